"""Interrupted training loses nothing, and seeded deterministic runs repeat exactly.

``tools/train.py`` trains the tiny CenterMask-R18 (``tests/data/configs``: seed 0, deterministic,
6 iterations, a checkpoint and a validation every 2, ``RNGStateHook``) in subprocesses on a toy
COCO set. One run is killed with SIGKILL after its first checkpoint and resumed with ``--resume``;
it must end with the same weights, optimizer state and per-iteration losses as an uninterrupted
run. The tiny config's RoI sampler keeps one positive per image, so every iteration draws from
torch's generator: without ``RNGStateHook`` the resumed run diverges at its first iteration.
"""
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest
import torch
from mmdet_centermask.testing import (REPO_ROOT, ToolRun, logged_losses, run_tool, tool_env,
                                      write_tiny_coco)

CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'centermask_r18_tiny-coco.py'
TRAIN = [sys.executable, str(REPO_ROOT / 'tools' / 'train.py'), str(CONFIG)]
MAX_ITERS = 6


@pytest.fixture(scope='module')
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ``data/tiny_coco``, where the tools run."""
    root = tmp_path_factory.mktemp('resume')
    write_tiny_coco(root / 'data' / 'tiny_coco')
    return root


@pytest.fixture(scope='module')
def runs(workspace: Path) -> Dict[str, ToolRun]:
    """A run from start to end and its repetition, started side by side (one thread each)."""
    return {name: ToolRun(TRAIN + ['--work-dir', name], cwd=workspace)
            for name in ('uninterrupted', 'repeated')}


def finished(runs: Dict[str, ToolRun], name: str, workspace: Path) -> Path:
    """Work dir of run ``name`` once it has ended."""
    runs[name].output()
    return workspace / name


def final_checkpoint(work_dir: Path) -> dict:
    return torch.load(work_dir / f'iter_{MAX_ITERS}.pth')


def assert_same_tensors(expected: dict, actual: dict) -> None:
    """Every tensor of a (nested) state dict is equal, bit for bit."""
    assert expected.keys() == actual.keys()
    for key, value in expected.items():
        if isinstance(value, dict):
            assert_same_tensors(value, actual[key])
        elif isinstance(value, torch.Tensor):
            assert torch.equal(value, actual[key]), key
        else:
            assert value == actual[key], key


def kill_after_first_checkpoint(workspace: Path, work_dir: str) -> int:
    """Start a training, SIGKILL it once it has written a checkpoint and return the iteration of
    the checkpoint that ``--resume`` continues from."""
    last_checkpoint = workspace / work_dir / 'last_checkpoint'
    process = subprocess.Popen(TRAIN + ['--work-dir', work_dir], cwd=workspace, env=tool_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        # CheckpointHook writes last_checkpoint (the path of the checkpoint) after the checkpoint
        while not (last_checkpoint.exists() and last_checkpoint.read_text().strip()) \
                and process.poll() is None:
            assert time.monotonic() < deadline, 'no checkpoint within 240 s'
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL, 'the run ended before it was killed'
    return int(Path(last_checkpoint.read_text().strip()).stem.split('_')[1])


def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(runs: Dict[str, ToolRun],
                                                                 workspace: Path) -> None:
    resumed_iter = kill_after_first_checkpoint(workspace, 'killed')
    assert resumed_iter < MAX_ITERS
    assert not (workspace / 'killed' / f'iter_{MAX_ITERS}.pth').exists()

    output = run_tool(TRAIN + ['--work-dir', 'killed', '--resume'], cwd=workspace)
    assert f'resumed epoch: 0, iter: {resumed_iter}' in output

    uninterrupted = finished(runs, 'uninterrupted', workspace)
    expected_losses = logged_losses(uninterrupted)
    resumed_losses = logged_losses(workspace / 'killed')
    assert list(resumed_losses) == list(range(resumed_iter + 1, MAX_ITERS + 1))
    for step, losses in resumed_losses.items():
        assert losses == expected_losses[step], step
    expected, resumed = final_checkpoint(uninterrupted), final_checkpoint(workspace / 'killed')
    assert_same_tensors(expected['state_dict'], resumed['state_dict'])
    assert_same_tensors(expected['optimizer'], resumed['optimizer'])
    assert f'Restored the torch random states of iteration {resumed_iter}.' in output


def test_runs_with_the_same_seed_are_identical(runs: Dict[str, ToolRun], workspace: Path) -> None:
    uninterrupted, repeated = (finished(runs, name, workspace)
                               for name in ('uninterrupted', 'repeated'))
    losses = logged_losses(repeated)
    assert list(losses) == list(range(1, MAX_ITERS + 1))
    assert losses == logged_losses(uninterrupted)
    assert_same_tensors(final_checkpoint(uninterrupted)['state_dict'],
                        final_checkpoint(repeated)['state_dict'])
