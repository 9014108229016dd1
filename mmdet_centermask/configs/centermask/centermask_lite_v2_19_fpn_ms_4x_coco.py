# ruff: noqa: F403, F405
# CenterMask-Lite V2-19: the Lite V2-39 recipe with the V-19 backbone. Pure-Python twin
# of configs/centermask/centermask-lite_v2-19_fpn_ms-4x_coco.py.
from mmengine.config import read_base
from mmengine.model.weight_init import PretrainedInit

with read_base():
    from .centermask_lite_v2_39_fpn_ms_4x_coco import *

model.backbone.update(
    dict(
        arch='V-19',
        init_cfg=dict(
            type=PretrainedInit, checkpoint='checkpoints/vovnet19_ese_detectron2_mmdet.pth')))
model.neck.in_channels = [512, 768, 1024]
