import sys
from typing import Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from mmdet.registry import HOOKS


@HOOKS.register_module()
class EvalProgressBarHook(Hook):
    """Show mmengine's :class:`ProgressBar` over the batches of every validation and test run.

    mmengine's loops only log every ``LoggerHook.interval`` batches; this hook draws a bar with
    the elapsed time and an estimate of the time left (main process only). Add it with
    ``custom_hooks = [dict(type='EvalProgressBarHook')]``.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._bar: Optional[ProgressBar] = None

    def before_val_epoch(self, runner: Runner) -> None:
        self._start(len(runner.val_dataloader))

    def before_test_epoch(self, runner: Runner) -> None:
        self._start(len(runner.test_dataloader))

    def after_val_iter(self, runner: Runner, batch_idx: int, data_batch: Optional[dict] = None,
                       outputs: Optional[Sequence] = None) -> None:
        self._update()

    def after_test_iter(self, runner: Runner, batch_idx: int, data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        self._update()

    def after_val_epoch(self, runner: Runner, metrics: Optional[dict] = None) -> None:
        self._finish()

    def after_test_epoch(self, runner: Runner, metrics: Optional[dict] = None) -> None:
        self._finish()

    def _start(self, num_batches: int) -> None:
        if is_main_process():
            self._bar = ProgressBar(num_batches, file=sys.stdout)

    def _update(self) -> None:
        if self._bar is not None:
            self._bar.update()

    def _finish(self) -> None:
        if self._bar is not None:
            self._bar.file.write('\n')
            self._bar = None
