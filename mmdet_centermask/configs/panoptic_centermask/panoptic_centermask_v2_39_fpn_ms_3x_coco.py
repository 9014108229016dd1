# ruff: noqa: F403, F405
# Panoptic-CenterMask V2-39-FPN, 3x, multi-scale
# (centermask2 panoptic_centermask_V_39_eSE_FPN_ms_3x):
# the R-50 recipe with the VoVNetV2-39 backbone giving stage2-stage5. Pure-Python twin of
# configs/panoptic_centermask/panoptic-centermask_v2-39_fpn_ms-3x_coco.py.
from mmengine.config import read_base

with read_base():
    from .panoptic_centermask_r50_fpn_ms_3x_coco import *
    from ..centermask.centermask_v2_39_fpn_1x_coco import model as vovnet_model

model.backbone = vovnet_model.backbone
model.backbone.out_indices = (0, 1, 2, 3)
model.neck.in_channels = [256, 512, 768, 1024]
