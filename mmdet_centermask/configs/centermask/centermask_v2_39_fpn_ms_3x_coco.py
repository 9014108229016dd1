# ruff: noqa: F403, F405
# CenterMask V2-39-FPN, 3x: the V2-39 model with the 3x schedule (270k iterations, steps
# 210k/250k) and the 1x data pipeline. Pure-Python twin of
# configs/centermask/centermask_v2-39_fpn_ms-3x_coco.py (which goes through the R-50 ms-3x config).
from mmengine.config import read_base

with read_base():
    from .centermask_v2_39_fpn_1x_coco import *
    from .centermask_r50_fpn_ms_3x_coco import (  # noqa: F401 (the 3x schedule)
        max_iters, param_scheduler, train_cfg)
