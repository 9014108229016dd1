"""FiniteLossHook stops training where it begins to diverge and names a checkpoint from before.

In process on the logged losses and gradient norms of one iteration and on checkpoint files, and
end to end: ``tools/train.py`` on the tiny CenterMask-R18 (whose config has the hook) with a
learning rate that makes the losses jump, and with a NaN loss weight on one head.
"""
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, Optional

import pytest
import torch
from mmdet_centermask.testing import REPO_ROOT, ToolRun, write_tiny_coco
from mmengine.hooks import CheckpointHook
from mmengine.logging import HistoryBuffer
from mmengine.runner import get_priority

from mmdet.registry import HOOKS
from mmdet_centermask.engine.hooks import FiniteLossHook

CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'centermask_r18_tiny-coco.py'
TRAIN = [sys.executable, str(REPO_ROOT / 'tools' / 'train.py'), str(CONFIG)]
ADVICE = ('lower learning rate', 'longer warmup', 'clip_grad', 'annotations', 'num_classes')


class MessageHub:

    def __init__(self, last_checkpoint: Optional[str], grad_norm: Optional[float]) -> None:
        self.last_checkpoint = last_checkpoint
        self.log_scalars = {} if grad_norm is None else {'train/grad_norm': HistoryBuffer()}
        if grad_norm is not None:
            self.log_scalars['train/grad_norm'].update(grad_norm)

    def get_info(self, key: str) -> Optional[str]:
        return self.last_checkpoint if key == 'last_ckpt' else None


def fake_runner(iteration: int, last_checkpoint: Optional[str] = None,
                work_dir: Optional[Path] = None, grad_norm: Optional[float] = None,
                loss_scaler: Optional[torch.amp.GradScaler] = None) -> SimpleNamespace:
    return SimpleNamespace(iter=iteration, work_dir=work_dir and str(work_dir),
                           message_hub=MessageHub(last_checkpoint, grad_norm),
                           optim_wrapper=SimpleNamespace(loss_scaler=loss_scaler))


def log_vars(**losses: float) -> dict:
    """Outputs of ``train_step``: the total first, as mmengine's ``parse_losses`` returns them."""
    values = {name: torch.tensor(value) for name, value in losses.items()}
    return dict(loss=sum(values.values()), **values)


def test_finite_losses_pass() -> None:
    hook = HOOKS.build(dict(type='FiniteLossHook'))
    hook.after_train_iter(fake_runner(7), 7, outputs=log_vars(loss_cls=0.5, loss_mask=1e30))


def test_names_the_non_finite_losses_before_their_sum(tmp_path: Path) -> None:
    hook = FiniteLossHook()
    outputs = log_vars(loss_cls=0.5, loss_bbox=float('inf'), loss_mask=float('nan'))
    with pytest.raises(FloatingPointError) as error:
        hook.after_train_iter(fake_runner(7, str(tmp_path / 'iter_6.pth')), 7, outputs=outputs)
    message = str(error.value)
    # iteration 8's loss comes from the weights iteration 7 left: iter_6.pth is from before them
    assert message.startswith('Non-finite loss at iteration 8: loss_bbox=inf, loss_mask=nan, '
                              'loss=nan. Training stopped before saving this iteration; the '
                              'weights of iteration 7 produced it: the newest checkpoint from '
                              f'before that is {tmp_path / "iter_6.pth"}, to resume from with a '
                              'changed config. ')
    assert 'loss_cls' not in message
    assert all(advice in message for advice in ADVICE)


def test_points_before_the_checkpoints_that_hold_the_bad_weights(tmp_path: Path) -> None:
    for iteration in (2, 4, 5, 6):
        (tmp_path / f'iter_{iteration}.pth').touch()
    (tmp_path / 'epoch_3.pth').touch()
    with pytest.raises(FloatingPointError) as error:
        FiniteLossHook().after_train_iter(
            fake_runner(6, str(tmp_path / 'iter_6.pth'), work_dir=tmp_path), 6,
            outputs=log_vars(loss_cls=float('nan')))
    assert ('the weights of iteration 6 produced it: the newest checkpoint from before that is '
            f'{tmp_path / "iter_5.pth"}, to resume from with a changed config '
            f'({tmp_path / "iter_6.pth"} already holds diverged weights).') in str(error.value)


def test_stops_at_a_non_finite_gradient_norm_after_the_update(tmp_path: Path) -> None:
    for iteration in (2, 3):
        (tmp_path / f'iter_{iteration}.pth').touch()
    hook = FiniteLossHook()
    hook.after_train_iter(fake_runner(2, work_dir=tmp_path, grad_norm=1e4), 2,
                          outputs=log_vars(loss_cls=0.5))
    with pytest.raises(FloatingPointError) as error:
        hook.after_train_iter(fake_runner(3, work_dir=tmp_path, grad_norm=float('inf')), 3,
                              outputs=log_vars(loss_cls=0.5))
    # the loss of iteration 4 was finite; its update is what breaks the weights
    assert str(error.value).startswith(
        'Non-finite gradient norm at iteration 4: grad_norm=inf. Training stopped before saving '
        'this iteration; this update breaks the weights: the newest checkpoint from before that '
        f'is {tmp_path / "iter_3.pth"}, to resume from with a changed config. ')


def overflowing_step(scaler: torch.amp.GradScaler, weight: torch.nn.Parameter,
                     optimizer: torch.optim.Optimizer) -> None:
    """One float16-AMP-style step whose gradient is inf: the scaler skips it, halving its scale."""
    optimizer.zero_grad()
    scaler.scale(weight * float('inf')).backward()
    scaler.step(optimizer)
    scaler.update()


def test_with_loss_scaling_stops_only_when_the_scale_collapses(tmp_path: Path) -> None:
    (tmp_path / 'iter_2.pth').touch()
    weight = torch.nn.Parameter(torch.ones(()))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scaler = torch.amp.GradScaler('cpu', init_scale=4.0)
    hook = FiniteLossHook()
    hook.after_train_iter(fake_runner(2, work_dir=tmp_path, grad_norm=3.0, loss_scaler=scaler), 2,
                          outputs=log_vars(loss_cls=0.5))
    for iteration, scale in ((3, 2.0), (4, 1.0)):  # skipped steps, not (yet) divergence
        overflowing_step(scaler, weight, optimizer)
        assert scaler.get_scale() == scale and weight.item() == 1.0
        hook.after_train_iter(fake_runner(iteration, work_dir=tmp_path, grad_norm=float('inf'),
                                          loss_scaler=scaler), iteration,
                              outputs=log_vars(loss_cls=0.5))
    overflowing_step(scaler, weight, optimizer)
    with pytest.raises(FloatingPointError) as error:
        hook.after_train_iter(fake_runner(5, work_dir=tmp_path, grad_norm=float('inf'),
                                          loss_scaler=scaler), 5, outputs=log_vars(loss_cls=0.5))
    # the weights saved by iteration 3 gave the first overflow, at iteration 4
    assert str(error.value).startswith(
        'Loss scale fell to 0.5 at iteration 6, below min_loss_scale=1: the float16 gradients '
        'overflow even unscaled (skipped steps since iteration 4). Training stopped before saving '
        'this iteration; the weights of iteration 3 produced it: the newest checkpoint from before '
        f'that is {tmp_path / "iter_2.pth"}')
    disabled = torch.amp.GradScaler('cpu', enabled=False)  # bfloat16 AMP: no skipped steps
    with pytest.raises(FloatingPointError, match='^Non-finite gradient norm at iteration 1'):
        FiniteLossHook().after_train_iter(fake_runner(0, grad_norm=float('nan'),
                                                      loss_scaler=disabled), 0,
                                          outputs=log_vars(loss_cls=0.5))


def test_stops_at_a_loss_jump_beyond_the_factor() -> None:
    hook = FiniteLossHook(max_loss_jump=100, window=3)
    for iteration, loss in enumerate([4.0, 1.0, 2.0, 3.0, 150.0]):
        hook.after_train_iter(fake_runner(iteration), iteration, outputs=log_vars(loss_cls=loss))
    # 300 is exactly 100 times the median of the last three (2, 3, 150): not above it
    hook.after_train_iter(fake_runner(5), 5, outputs=log_vars(loss_cls=300.0))
    with pytest.raises(FloatingPointError, match=r'^Loss jump at iteration 7: loss=2e\+04 is '
                       r'133 times the median 150 of the last 3 iterations '
                       r'\(max_loss_jump=100\)\. Training stopped'):
        hook.after_train_iter(fake_runner(6), 6, outputs=log_vars(loss_cls=2e4))
    unchecked = FiniteLossHook(max_loss_jump=None)
    for iteration, loss in enumerate([1.0, 1e30]):
        unchecked.after_train_iter(fake_runner(iteration), iteration,
                                   outputs=log_vars(loss_cls=loss))
    with pytest.raises(ValueError, match='max_loss_jump must be above 1'):
        FiniteLossHook(max_loss_jump=0.5)


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


@pytest.fixture(scope='module')
def trainings(workspace: Path) -> Dict[str, ToolRun]:
    """Both trainings that break, side by side (one thread each)."""
    options = {
        'diverging': ['optim_wrapper.optimizer.lr=10', 'default_hooks.checkpoint.interval=1'],
        'nan_weight': ['model.roi_head.mask_iou_head.loss_iou.loss_weight=nan'],
    }
    return {name: ToolRun(TRAIN + ['--work-dir', str(workspace / name), '--cfg-options', *args],
                          cwd=workspace)
            for name, args in options.items()}


@pytest.mark.e2e  # tools/train.py in a subprocess
def test_diverging_training_stops_at_the_loss_jump(trainings: Dict[str, ToolRun],
                                                   workspace: Path) -> None:
    work_dir = workspace / 'diverging'
    output = trainings['diverging'].output(check=False)
    # iteration 1 is finite (initial weights, loss ~3.7), its update with lr 10 makes iteration
    # 2's loss huge but finite: iter_1.pth already holds the diverged weights
    match = re.search(r'FloatingPointError: Loss jump at iteration 2: loss=(\S+) is \S+ times the '
                      r'median (\S+) of the last 1 iterations \(max_loss_jump=1000\)\. Training '
                      r'stopped before saving this iteration; the weights of iteration 1 produced '
                      r'it: no checkpoint was taken before that \((\S+) already holds diverged '
                      r'weights\)\.', output)
    assert match, output[-3000:]
    assert float(match.group(1)) > 1000 * float(match.group(2)) > 1000
    assert Path(match.group(3)) == work_dir / 'iter_1.pth'
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['iter_1.pth']


@pytest.mark.e2e  # tools/train.py in a subprocess
def test_names_the_one_bad_loss(trainings: Dict[str, ToolRun]) -> None:
    output = trainings['nan_weight'].output(check=False)
    assert ('FloatingPointError: Non-finite loss at iteration 1: loss_mask_iou=nan, loss=nan. '
            'Training stopped before saving this iteration; the initial weights produced it: no '
            'checkpoint was saved yet.'
            in output), output[-3000:]
