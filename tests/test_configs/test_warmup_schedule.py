"""Every zoo config's learning rate, iteration for iteration, against centermask2's schedule.

centermask2 trains with detectron2's ``WarmupMultiStepLR`` (``WARMUP_METHOD='linear'``,
``WARMUP_ITERS=1000``, ``WARMUP_FACTOR=0.001``: detectron2's defaults, kept by every centermask2
yaml) and the yaml's ``STEPS`` / ``MAX_ITER``. At iteration ``it`` (0-based) its learning rate is

    base_lr * (factor * (1 - a) + a) * gamma ** k,   a = min(it / warmup_iters, 1),

with ``k`` the number of milestones ``<= it``. Each config's ``param_scheduler`` is built by
mmengine and stepped as the Runner's ``ParamSchedulerHook`` steps it (once after every
iteration) through the whole run; the formula is evaluated here independently.
"""
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS

ROOT = Path(__file__).resolve().parents[2]
ZOO_FOLDERS = [ROOT / 'configs' / 'centermask', ROOT / 'configs' / 'panoptic_centermask',
               ROOT / 'mmdet_centermask' / 'configs' / 'centermask',
               ROOT / 'mmdet_centermask' / 'configs' / 'panoptic_centermask']
ZOO = sorted(str(path.relative_to(ROOT)) for folder in ZOO_FOLDERS for path in folder.glob('*.py')
             if path.name != '__init__.py')
# centermask2's yamls: schedule -> (SOLVER.STEPS, SOLVER.MAX_ITER); BASE_LR 0.01, GAMMA 0.1
CENTERMASK2_SCHEDULES = {
    '1x': ((60000, 80000), 90000),
    '3x': ((210000, 250000), 270000),
    '4x': ((300000, 340000), 360000),
}
BASE_LR, GAMMA, WARMUP_ITERS, WARMUP_FACTOR = 0.01, 0.1, 1000, 0.001
RELATIVE_TOLERANCE = 1e-9


def schedule_of(config: str) -> str:
    """'1x', '3x' or '4x' from a zoo config's name (``..._ms-3x_coco.py``, ``..._1x_coco.py``)."""
    return Path(config).stem.split('_')[-2].replace('ms-', '')


def detectron2_lr(iterations: np.ndarray, steps: Tuple[int, ...]) -> np.ndarray:
    """detectron2's linear warm-up times its multi-step decay, at each of ``iterations``."""
    alpha = np.minimum(iterations / WARMUP_ITERS, 1.0)
    warmup = WARMUP_FACTOR * (1 - alpha) + alpha
    return BASE_LR * warmup * GAMMA**np.searchsorted(steps, iterations, side='right')


_stepped: Dict[str, np.ndarray] = {}


def mmengine_lrs(cfg: Config) -> np.ndarray:
    """The learning rate of every iteration of ``cfg``'s run, as mmengine's schedulers set it
    (runs that share a schedule are stepped once)."""
    key = repr((cfg.optim_wrapper.optimizer.lr, cfg.train_cfg.max_iters,
                [{k: getattr(v, '__name__', v) for k, v in scheduler.items()}
                 for scheduler in cfg.param_scheduler]))
    if key not in _stepped:
        parameter = torch.nn.Parameter(torch.zeros(1))
        wrapper = OptimWrapper(torch.optim.SGD([parameter], lr=cfg.optim_wrapper.optimizer.lr))
        schedulers = [PARAM_SCHEDULERS.build(dict(scheduler, optimizer=wrapper))
                      for scheduler in cfg.param_scheduler]
        lrs = []
        for _ in range(cfg.train_cfg.max_iters):
            lrs.append(wrapper.param_groups[0]['lr'])
            for scheduler in schedulers:
                scheduler.step()
        _stepped[key] = np.array(lrs)
    return _stepped[key]


@pytest.mark.filterwarnings('ignore:Detected call of `scheduler.step\\(\\)` before')
@pytest.mark.parametrize('config', ZOO)
def test_learning_rate_follows_centermask2_at_every_iteration(config: str) -> None:
    cfg = Config.fromfile(ROOT / config)
    steps, max_iters = CENTERMASK2_SCHEDULES[schedule_of(config)]
    assert (cfg.optim_wrapper.optimizer.lr, cfg.train_cfg.max_iters) == (BASE_LR, max_iters)
    lrs = mmengine_lrs(cfg)
    expected = detectron2_lr(np.arange(max_iters), steps)
    relative = np.abs(lrs / expected - 1)
    worst = int(relative.argmax())
    assert relative[worst] <= RELATIVE_TOLERANCE, (
        f'iteration {worst}: mmengine lr {lrs[worst]!r}, detectron2 {expected[worst]!r}')


def test_the_formula_reaches_the_published_values() -> None:
    """The reference of the test, against centermask2's values as the issue lists them."""
    steps = CENTERMASK2_SCHEDULES['4x'][0]
    iterations = np.array([1, 500, 999, 1000, 299999, 300000, 340000])
    assert detectron2_lr(iterations, steps) == pytest.approx(
        [1.999e-05, 0.005005, 0.00999001, BASE_LR, BASE_LR, BASE_LR * GAMMA, BASE_LR * GAMMA**2],
        rel=1e-12)
