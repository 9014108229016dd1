import sys
from typing import Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook, LoggerHook
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from mmdet.registry import HOOKS


def _logs_after(runner: Runner, batch_idx: int) -> bool:
    """Whether the runner's ``LoggerHook`` logs after validation or test batch ``batch_idx``."""
    loggers = [hook for hook in getattr(runner, 'hooks', []) if isinstance(hook, LoggerHook)]
    return any((batch_idx + 1) % hook.interval == 0 for hook in loggers)


@HOOKS.register_module()
class EvalProgressBarHook(Hook):
    """Show mmengine's :class:`ProgressBar` over the batches of every validation and test run.

    mmengine's loops only log every ``LoggerHook.interval`` batches; this hook draws a bar with
    the elapsed time and an estimate of the time left (main process only). It runs before the
    ``LoggerHook`` and ends the bar's line where that hook is about to log and after the last
    batch (the evaluator logs next), so that they do not share a line. Add it with
    ``custom_hooks = [dict(type='EvalProgressBarHook')]``.
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL)

    def __init__(self) -> None:
        self._bar: Optional[ProgressBar] = None

    def before_val_epoch(self, runner: Runner) -> None:
        self._start(len(runner.val_dataloader))

    def before_test_epoch(self, runner: Runner) -> None:
        self._start(len(runner.test_dataloader))

    def after_val_iter(self, runner: Runner, batch_idx: int, data_batch: Optional[dict] = None,
                       outputs: Optional[Sequence] = None) -> None:
        self._update(runner, batch_idx)

    def after_test_iter(self, runner: Runner, batch_idx: int, data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        self._update(runner, batch_idx)

    def after_val_epoch(self, runner: Runner, metrics: Optional[dict] = None) -> None:
        self._finish()

    def after_test_epoch(self, runner: Runner, metrics: Optional[dict] = None) -> None:
        self._finish()

    def _start(self, num_batches: int) -> None:
        if is_main_process():
            self._bar = ProgressBar(num_batches, file=sys.stdout)

    def _update(self, runner: Runner, batch_idx: int) -> None:
        if self._bar is None:
            return
        self._bar.update()
        # the logger's line (or, after the last batch, the evaluator's) goes below the bar
        if self._bar.completed >= self._bar.task_num or _logs_after(runner, batch_idx):
            self._bar.file.write('\n')

    def _finish(self) -> None:
        if self._bar is not None and self._bar.completed < self._bar.task_num:
            self._bar.file.write('\n')  # a run that stopped early
        self._bar = None
