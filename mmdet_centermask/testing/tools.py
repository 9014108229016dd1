"""Running our tools (``tools/*.py``, ``*.sh``) in subprocesses for end-to-end tests, and
reading what they log."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

from .datasets import TINY_COCO_IMAGE_SIZE


# what only the walkthrough's tests change: no ImageNet weights offline, two iterations, small
# images, an untrained model's detections kept (seeded, so that every image has some for metrics)
_SIZE = TINY_COCO_IMAGE_SIZE
WALKTHROUGH_OPTIONS = [
    'model.backbone.init_cfg=None', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
    'model.test_cfg.bbox.score_thr=0.0', 'model.test_cfg.bbox.min_bbox_size=0',
    'model.test_cfg.bbox.max_per_img=10', 'model.train_cfg.bbox.max_per_img=20',
    'randomness.seed=0', f'train_dataloader.dataset.pipeline.2.scales=[({_SIZE},{_SIZE})]',
    f'val_dataloader.dataset.pipeline.1.scale=({_SIZE},{_SIZE})',
    f'test_dataloader.dataset.pipeline.1.scale=({_SIZE},{_SIZE})',
] + [f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
     for key in ('num_workers=0', 'persistent_workers=False', 'batch_size=2')]


def tool_env(**env: str) -> dict:
    """The environment of a tool subprocess: this one with one OpenMP thread per process (results
    do not depend on the machine's core count, and two processes do not oversubscribe two cores),
    ``PYTHON`` for the ``tools/*.sh`` scripts and no warnings, plus ``env``."""
    return {
        **os.environ,
        'PYTHON': sys.executable,
        'PYTHONWARNINGS': 'ignore',
        'OMP_NUM_THREADS': '1',
        **env,
    }


def run_tool(
    command: List[str], cwd: Path, timeout: float = 300, check: bool = True, **env: str
) -> str:
    """Run a tool (``tools/*.py`` or ``*.sh``) in a subprocess with :func:`tool_env`; fail the
    test with its output if ``check`` and it fails. Returns stdout + stderr."""
    process = subprocess.run(
        command, cwd=cwd, env=tool_env(**env), capture_output=True, text=True, timeout=timeout
    )
    output = process.stdout + process.stderr
    assert not check or process.returncode == 0, output[-4000:]
    return output


def logged_losses(work_dir: Path) -> dict:
    """``{iteration: {name: value}}`` of the loss records in the ``vis_data/scalars.json`` of the
    latest run in ``work_dir`` (a resumed run logs to a new timestamped directory)."""
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))[-1]
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    return {
        record['step']: {name: value for name, value in record.items() if 'loss' in name}
        for record in records
        if 'loss' in record
    }
