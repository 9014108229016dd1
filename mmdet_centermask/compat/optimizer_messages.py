"""Log fix: one summary line for mmengine's per-parameter optimiser messages.

mmengine's ``DefaultOptimWrapperConstructor`` logs a warning for every parameter it leaves out
because ``requires_grad=False`` (44 for a CenterMask-Lite with frozen BN, 250+ for a VoVNet-99)
and an info line for every parameter that ``paramwise_cfg`` changes. These are expected for
frozen-BN configs and drown the training log. While the constructor runs, they are counted
instead of printed, and one line per kind is logged after it, naming the first parameters.
``MMDET_CENTERMASK_VERBOSE_LOGS=1`` keeps every line.
"""
import functools
import logging
import os
import re
from typing import Callable, Dict, List

from mmengine.logging import MMLogger, print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from .fix import CompatFix

VERBOSE_ENV = 'MMDET_CENTERMASK_VERBOSE_LOGS'
FROZEN = re.compile(r'(?P<name>\S+) is skipped since its requires_grad=False$')
PARAMWISE = re.compile(r'paramwise_options -- (?P<name>[^:]+):(?P<setting>.+)$')
NAMES_SHOWN = 3


class OptimizerMessageCounter(logging.Filter):
    """Drops and collects the per-parameter messages of the optimiser constructor."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen: List[str] = []
        self.paramwise: Dict[str, List[str]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        frozen = FROZEN.match(message)
        if frozen:
            self.frozen.append(frozen['name'])
            return False
        paramwise = PARAMWISE.match(message)
        if paramwise:
            self.paramwise.setdefault(paramwise['setting'], []).append(paramwise['name'])
            return False
        return True

    def summary(self) -> List[str]:
        """The lines that stand for the dropped messages."""
        lines = []
        if self.frozen:
            lines.append(f'{len(self.frozen)} parameters with requires_grad=False are not '
                         f'optimised (frozen layers such as frozen BN), e.g. '
                         f'{", ".join(self.frozen[:NAMES_SHOWN])}')
        for setting, names in self.paramwise.items():
            lines.append(f'paramwise_cfg: {setting} for {len(names)} parameters, e.g. '
                         f'{", ".join(names[:NAMES_SHOWN])}')
        return lines


def _logs_every_parameter() -> bool:
    """Every mmengine release logs one line per frozen or paramwise-changed parameter; the
    summary is skipped where ``MMDET_CENTERMASK_VERBOSE_LOGS`` is set."""
    return not os.environ.get(VERBOSE_ENV)


def _summarise_optimizer_messages() -> None:
    build: Callable = DefaultOptimWrapperConstructor.__call__

    @functools.wraps(build)
    def build_with_summary(self, model):
        logger = MMLogger.get_current_instance()
        counter = OptimizerMessageCounter()
        logger.addFilter(counter)
        try:
            optim_wrapper = build(self, model)
        finally:
            logger.removeFilter(counter)
        for line in counter.summary():
            print_log(line, logger='current', level=logging.INFO)
        return optim_wrapper

    DefaultOptimWrapperConstructor.__call__ = build_with_summary


FIX = CompatFix(
    name='optimizer_messages',
    summary="one summary line per kind of the optimiser constructor's per-parameter messages",
    applies_to='every mmengine release, unless MMDET_CENTERMASK_VERBOSE_LOGS is set',
    unnecessary_since='none (a log-volume choice, not a bug)',
    is_needed=_logs_every_parameter,
    apply=_summarise_optimizer_messages)
