# ruff: noqa: F403, F405
# CenterMask X-101-32x8d-FPN, 3x (centermask2 centermask_X_101_FPN_ms_3x): detectron2's ResNeXt-101
# 32x8d (STRIDE_IN_1X1=False: mmdet style='pytorch'), BGR input with the C2 model's pixel std.
# Pure-Python twin of configs/centermask/centermask_x101-32x8d_fpn_ms-3x_coco.py.
from mmengine.config import read_base
from mmengine.model.weight_init import PretrainedInit

from mmdet.models import ResNeXt

with read_base():
    from .centermask_r50_fpn_ms_3x_coco import *

model.data_preprocessor.std = [57.375, 57.120, 58.395]
model.backbone.update(
    dict(
        type=ResNeXt,
        depth=101,
        groups=32,
        base_width=8,
        style='pytorch',
        init_cfg=dict(type=PretrainedInit, checkpoint='open-mmlab://detectron2/resnext101_32x8d')))
