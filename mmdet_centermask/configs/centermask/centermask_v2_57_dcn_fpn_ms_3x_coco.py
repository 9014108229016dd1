# ruff: noqa: F403, F405
# Deformable VoVNetV2-57: modulated deformable convolution (DCNv2) in every 3x3 conv of stages 3-5.
# Pure-Python twin of configs/centermask/centermask_v2-57-dcn_fpn_ms-3x_coco.py.
from mmengine.config import read_base

with read_base():
    from .centermask_v2_57_fpn_ms_3x_coco import *

model.backbone.update(
    dict(
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True)))
