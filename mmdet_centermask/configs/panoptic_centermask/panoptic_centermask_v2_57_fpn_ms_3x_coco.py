# ruff: noqa: F403, F405
# Panoptic-CenterMask V2-57-FPN, 3x, multi-scale
# (centermask2 panoptic_centermask_V_57_eSE_FPN_ms_3x).
# Pure-Python twin of configs/panoptic_centermask/panoptic-centermask_v2-57_fpn_ms-3x_coco.py.
from mmengine.config import read_base
from mmengine.model.weight_init import PretrainedInit

with read_base():
    from .panoptic_centermask_v2_39_fpn_ms_3x_coco import *

model.backbone.update(
    dict(
        arch='V-57',
        init_cfg=dict(
            type=PretrainedInit, checkpoint='checkpoints/vovnet57_ese_detectron2_mmdet.pth')))
