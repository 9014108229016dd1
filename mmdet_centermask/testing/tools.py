"""Running our tools (``tools/*.py``, ``*.sh``) in subprocesses for end-to-end tests, and
reading what they log."""

import atexit
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
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


def free_port() -> int:
    """A TCP port of localhost that nobody listens on (for a tool's ``PORT`` or ``--port``)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


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


class ToolRun:
    """A tool (``tools/*.py`` or ``*.sh``) started in a subprocess with :func:`tool_env`. Its
    stdout and stderr go to temporary files, not pipes, so that several runs started one after the
    other proceed side by side (one OpenMP thread each: two of them fill two cores) while the test
    process waits."""

    def __init__(self, command: List[str], cwd: Path, timeout: float = 300, **env: str) -> None:
        self.command = command
        self._deadline = time.monotonic() + timeout
        self._stdout, self._stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        # a session of its own: a timeout ends the tool's children too (dist_train.sh's workers)
        self.process = subprocess.Popen(command, cwd=cwd, env=tool_env(**env),
                                        stdout=self._stdout, stderr=self._stderr,
                                        start_new_session=True)
        # a run whose test failed before waiting for it ends with the test process
        atexit.register(self.kill)

    def output(self, check: bool = True) -> str:
        """Wait for the tool (killed once ``timeout`` seconds have passed since its start); fail
        the test with its output if ``check`` and it failed. Returns stdout + stderr."""
        try:
            self.process.wait(max(self._deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f'{self.command} did not end in time:\n{self._read()[-4000:]}')
        output = self._read()
        assert not check or self.process.returncode == 0, output[-4000:]
        return output

    @property
    def returncode(self) -> int:
        """The exit code (after :meth:`output`)."""
        return self.process.returncode

    def kill(self) -> None:
        """End the tool and its children now (SIGKILL), if it is running."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def _read(self) -> str:
        texts = []
        for file in (self._stdout, self._stderr):
            file.seek(0)
            texts.append(file.read().decode(errors='replace'))
        # newlines as ``subprocess.run(text=True)`` gives them (progress bars end in '\r')
        return ''.join(texts).replace('\r\n', '\n').replace('\r', '\n')


def run_tool(
    command: List[str], cwd: Path, timeout: float = 300, check: bool = True, **env: str
) -> str:
    """Run a tool to its end (:class:`ToolRun`); fail the test with its output if ``check`` and
    it fails. Returns stdout + stderr."""
    return ToolRun(command, cwd, timeout, **env).output(check)


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


def logged_metrics(run_dir: Path) -> dict:
    """``{name: value}`` of the last ``coco/...`` metrics line of a tool's text log (the main
    process's: in a distributed run both processes may write the json log, and a line of it was
    once found holding two writes)."""
    text_log, = run_dir.glob('*/*.log')
    line = [line for line in text_log.read_text().splitlines() if 'coco/' in line][-1]
    return {name: float(value) for name, value in re.findall(r'(coco/\w+): (-?[\d.]+)', line)}
