# ruff: noqa: F403, F405
# Panoptic-CenterMask R-101-FPN, 3x, multi-scale (centermask2 panoptic_centermask_R_101_FPN_ms_3x).
# Pure-Python twin of configs/panoptic_centermask/panoptic-centermask_r101_fpn_ms-3x_coco.py.
from mmengine.config import read_base
from mmengine.model.weight_init import PretrainedInit

with read_base():
    from .panoptic_centermask_r50_fpn_ms_3x_coco import *

model.backbone.update(
    dict(
        depth=101,
        init_cfg=dict(type=PretrainedInit, checkpoint='open-mmlab://detectron2/resnet101_caffe')))
