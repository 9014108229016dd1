"""The optimiser constructor's per-parameter messages become one summary line per kind."""
import logging

import torch
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_frozen_and_paramwise_messages_are_summarised():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1),
                          nn.BatchNorm2d(4))
    model[1].requires_grad_(False)  # a frozen BN: 2 parameters left out
    constructor = DefaultOptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, weight_decay=1e-4)),
        paramwise_cfg=dict(norm_decay_mult=0.0))
    logger = MMLogger.get_instance('test_quiet_logs', log_level='INFO')
    records = Records()
    logger.addHandler(records)
    try:
        with torch.no_grad():
            optim_wrapper = constructor(model)
    finally:
        logger.removeHandler(records)
    # the optimiser is what mmengine builds: 6 parameters, the frozen BN's 2 left out
    groups = optim_wrapper.optimizer.param_groups
    assert sum(len(g['params']) for g in groups) == 6
    assert [g['weight_decay'] for g in groups].count(0.0) == 2  # the trained BN's weight, bias
    assert not any('is skipped since' in m or 'paramwise_options --' in m
                   for m in records.messages)
    assert ('2 parameters with requires_grad=False are not optimised (frozen layers such as '
            'frozen BN), e.g. 1.weight, 1.bias') in records.messages
    assert 'paramwise_cfg: weight_decay=0.0 for 2 parameters, e.g. 3.weight, 3.bias' in \
        records.messages
