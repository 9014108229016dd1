# ruff: noqa: F403, F405
# CenterMask R-50-FPN, 3x: 270k iterations, steps 210k/250k; the data pipeline of the 1x config
# (short side one of 640..800, step 32, max 1333). Pure-Python twin of
# configs/centermask/centermask_r50_fpn_ms-3x_coco.py.
from mmengine.config import read_base
from mmengine.optim.scheduler import LinearLR, MultiStepLR

with read_base():
    from .centermask_r50_fpn_1x_coco import *

max_iters = 270000
train_cfg.update(dict(max_iters=max_iters))
param_scheduler = [
    dict(type=LinearLR, start_factor=0.001, by_epoch=False, begin=0, end=1001),
    dict(
        type=MultiStepLR,
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[210000, 250000],
        gamma=0.1)
]
