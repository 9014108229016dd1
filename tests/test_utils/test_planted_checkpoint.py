"""A checkpoint whose stored configs are code that writes a marker file, loaded through every path
that reads a checkpoint here: ``load_from`` (tools/train.py) and the checkpoint of tools/test.py
(mmengine's Runner after our fit check), ``demo/image_demo.py``, the converters and the benchmark.
Each must load the weights and never run the code. ``--resume`` and ``DetInferencer(model=None)``,
the two paths where mmengine itself executes the stored text, are compat fix 7's scenarios in
``test_compat.py`` (they fail there without the fix)."""
import importlib
import sys
from argparse import Namespace
from pathlib import Path
from typing import Callable, Dict

import pytest
import torch
from mmdet_centermask.testing import CONFIG_DIR, REPO_ROOT, load_config, load_tool
from mmengine.runner import Runner

from mmdet.registry import MODELS
from mmdet_centermask.model_converters.common import load_source_state_dict
from mmdet_centermask.utils.checkpoint_check import check_checkpoint_fits

CONFIG = 'centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py'
PROBE = 'bbox_head.conv_cls.bias'  # a tensor set to 7 in the planted file


@pytest.fixture(scope='module')
def planted(tmp_path_factory) -> Dict[str, Path]:
    """The demo model's weights, with Python that touches ``marker`` as every stored config mmengine
    writes (``meta.cfg``, ``meta.config``, ``message_hub.runtime_info.cfg``)."""
    tmp = tmp_path_factory.mktemp('planted')
    marker = tmp / 'marker'
    code = f'x = __import__("pathlib").Path({str(marker)!r}).touch()\n'
    torch.manual_seed(0)
    state_dict = MODELS.build(load_config(CONFIG).model).state_dict()
    state_dict[PROBE] = torch.full_like(state_dict[PROBE], 7.0)
    path = tmp / 'planted.pth'
    torch.save(dict(state_dict=state_dict, meta=dict(cfg=code, config=code, iter=1),
                    message_hub=dict(runtime_info=dict(cfg=code))), path)
    return dict(path=path, marker=marker, work_dir=tmp)


def via_load_from(path: Path, work_dir: Path) -> torch.Tensor:
    """What tools/train.py (``load_from``) and tools/test.py do: our fit check, then the Runner."""
    cfg = load_config(CONFIG)
    cfg.work_dir, cfg.load_from = str(work_dir / 'run'), str(path)
    runner = Runner.from_cfg(cfg)
    check_checkpoint_fits(runner.model, str(path), for_training=True)
    runner.load_or_resume()
    return runner.model.state_dict()[PROBE]


def via_image_demo(path: Path, work_dir: Path) -> torch.Tensor:
    image_demo = load_tool('image_demo', folder='demo')
    args = Namespace(config=str(CONFIG_DIR / CONFIG), checkpoint=str(path), device='cpu',
                     pred_score_thr=0.5, palette='none', cfg_options=None)
    return image_demo.build_inferencer(args, show_progress=False).model.state_dict()[PROBE]


def via_converters(path: Path, work_dir: Path) -> torch.Tensor:
    return load_source_state_dict(str(path))[PROBE]


def via_benchmark(path: Path, work_dir: Path) -> torch.Tensor:
    sys.path.insert(0, str(REPO_ROOT / 'tools' / 'analysis_tools'))
    benchmark_inputs = importlib.import_module('benchmark_inputs')
    cfg = benchmark_inputs.load_config(str(CONFIG_DIR / CONFIG))
    return benchmark_inputs.build_model(cfg, str(path), 'cpu', seed=0).state_dict()[PROBE]


PATHS: Dict[str, Callable[[Path, Path], torch.Tensor]] = {
    'load_from and tools/test.py': via_load_from,
    'demo/image_demo.py': via_image_demo,
    'converters': via_converters,
    'benchmark': via_benchmark,
}


@pytest.mark.parametrize('name', list(PATHS))
def test_weights_load_and_the_stored_code_never_runs(name: str, planted: Dict[str, Path]):
    probe = PATHS[name](planted['path'], planted['work_dir'])
    assert torch.all(probe == 7.0), f'{name} did not load the planted weights'
    assert not planted['marker'].exists(), f'{name} ran the code stored in the checkpoint'
