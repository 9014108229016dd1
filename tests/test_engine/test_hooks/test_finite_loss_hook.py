"""FiniteLossHook stops training at the first NaN or infinite loss and names it.

In process on the logged losses of one iteration, and end to end: ``tools/train.py`` on the tiny
CenterMask-R18 (whose config has the hook) with a learning rate that makes the losses diverge,
and with a NaN loss weight on one head.
"""
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import pytest
import torch
from helpers import REPO_ROOT, run_tool, write_tiny_coco
from mmengine.hooks import CheckpointHook
from mmengine.runner import get_priority

from mmdet.registry import HOOKS
from mmdet_centermask.engine.hooks import FiniteLossHook

CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'centermask_r18_tiny-coco.py'
TRAIN = [sys.executable, str(REPO_ROOT / 'tools' / 'train.py'), str(CONFIG)]
ADVICE = ('lower learning rate', 'longer warmup', 'clip_grad', 'annotations', 'num_classes')


class MessageHub:

    def __init__(self, last_checkpoint: Optional[str]) -> None:
        self.last_checkpoint = last_checkpoint

    def get_info(self, key: str) -> Optional[str]:
        return self.last_checkpoint if key == 'last_ckpt' else None


def fake_runner(iteration: int, last_checkpoint: Optional[str] = None) -> SimpleNamespace:
    return SimpleNamespace(iter=iteration, message_hub=MessageHub(last_checkpoint))


def log_vars(**losses: float) -> dict:
    """Outputs of ``train_step``: the total first, as mmengine's ``parse_losses`` returns them."""
    values = {name: torch.tensor(value) for name, value in losses.items()}
    return dict(loss=sum(values.values()), **values)


def test_finite_losses_pass() -> None:
    hook = HOOKS.build(dict(type='FiniteLossHook'))
    hook.after_train_iter(fake_runner(7), 7, outputs=log_vars(loss_cls=0.5, loss_mask=1e30))


def test_names_the_non_finite_losses_before_their_sum() -> None:
    hook = FiniteLossHook()
    outputs = log_vars(loss_cls=0.5, loss_bbox=float('inf'), loss_mask=float('nan'))
    with pytest.raises(FloatingPointError) as error:
        hook.after_train_iter(fake_runner(7, 'work_dirs/x/iter_6.pth'), 7, outputs=outputs)
    message = str(error.value)
    assert message.startswith('Non-finite loss at iteration 8: loss_bbox=inf, loss_mask=nan, '
                              'loss=nan. Training stopped before saving this iteration; the '
                              'last checkpoint is work_dirs/x/iter_6.pth.')
    assert 'loss_cls' not in message
    assert all(advice in message for advice in ADVICE)


def test_checks_every_iteration_by_default_and_runs_before_checkpointing() -> None:
    hook = FiniteLossHook()
    for iteration in range(3):
        with pytest.raises(FloatingPointError, match='no checkpoint was saved yet'):
            hook.after_train_iter(fake_runner(iteration), iteration,
                                  outputs=log_vars(loss_cls=float('nan')))
    assert get_priority(hook.priority) < get_priority(CheckpointHook.priority)
    sparse = FiniteLossHook(interval=2)
    sparse.after_train_iter(fake_runner(0), 0, outputs=log_vars(loss_cls=float('nan')))


@pytest.fixture(scope='module')
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ``data/tiny_coco``, where the tools run."""
    root = tmp_path_factory.mktemp('finite_loss')
    write_tiny_coco(root / 'data' / 'tiny_coco')
    return root


def test_diverging_training_stops_and_keeps_the_last_checkpoint(workspace: Path) -> None:
    work_dir = workspace / 'diverging'
    output = run_tool(TRAIN + ['--work-dir', str(work_dir), '--cfg-options',
                               'optim_wrapper.optimizer.lr=1e6',
                               'default_hooks.checkpoint.interval=1'],
                      cwd=workspace, check=False)
    # iteration 1 is finite (initial weights), its update with lr 1e6 breaks iteration 2
    match = re.search(r'FloatingPointError: Non-finite loss at iteration 2: ((loss_\w+=\S+, )+)'
                      r'loss=(nan|inf)\. Training stopped before saving this iteration; the last '
                      r'checkpoint is (\S+)\.', output)
    assert match, output[-3000:]
    assert all(re.fullmatch(r'loss_\w+=(nan|inf|-inf)', item)
               for item in match.group(1).rstrip(', ').split(', '))
    assert Path(match.group(4)) == work_dir / 'iter_1.pth'
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_1.pth')
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['iter_1.pth']
    assert all(torch.isfinite(value).all() for value in
               torch.load(work_dir / 'iter_1.pth')['state_dict'].values())


def test_names_the_one_bad_loss(workspace: Path) -> None:
    output = run_tool(TRAIN + ['--work-dir', str(workspace / 'nan_weight'), '--cfg-options',
                               'model.roi_head.mask_iou_head.loss_iou.loss_weight=nan'],
                      cwd=workspace, check=False)
    assert ('FloatingPointError: Non-finite loss at iteration 1: loss_mask_iou=nan, loss=nan. '
            'Training stopped before saving this iteration; no checkpoint was saved yet.'
            in output), output[-3000:]
