"""Fix 8: DataLoader workers die with their process (Linux).

A run killed with ``kill -9`` (or by the out-of-memory killer) left its workers alive for
minutes, some ignoring ``SIGTERM``: torch's workers check for a dead parent only between
batches, and one whose batch is still being written into the results pipe waits forever (the
other workers hold its reading end). Loaders built by ``Runner.build_dataloader`` ask Linux to
send their workers ``SIGKILL`` when the process that started them ends
(``prctl(PR_SET_PDEATHSIG)``), before mmengine's own ``worker_init_fn`` (seeding) runs.
"""
import functools
import os
import sys
from typing import Callable, Optional

import torch

from .fix import CompatFix


class ExitWithParent:
    """A DataLoader ``worker_init_fn`` that first makes the worker die with its parent."""

    PR_SET_PDEATHSIG = 1

    def __init__(self, worker_init_fn: Optional[Callable], parent_pid: int) -> None:
        self.worker_init_fn = worker_init_fn
        self.parent_pid = parent_pid

    def __call__(self, worker_id: int) -> None:
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(self.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != self.parent_pid:  # the parent died before prctl took effect
            os._exit(1)
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)


def _on_linux() -> bool:
    """mmengine's workers have no parent-death signal; prctl is Linux's."""
    return sys.platform.startswith('linux')


def _end_workers_with_their_process() -> None:
    from mmengine.runner import Runner

    build_dataloader = Runner.build_dataloader

    @functools.wraps(build_dataloader)
    def build_dataloader_ending_workers(*args, **kwargs):
        dataloader = build_dataloader(*args, **kwargs)
        if isinstance(dataloader, torch.utils.data.DataLoader) and dataloader.num_workers > 0:
            dataloader.worker_init_fn = ExitWithParent(dataloader.worker_init_fn, os.getpid())
        return dataloader

    Runner.build_dataloader = staticmethod(build_dataloader_ending_workers)


FIX = CompatFix(
    name='workers_die_with_parent',
    summary='Runner DataLoader workers get a parent-death signal',
    applies_to='Linux, every mmengine release',
    unnecessary_since='none',
    is_needed=_on_linux,
    apply=_end_workers_with_their_process)
