# ruff: noqa: F403, F405
# CenterMask-Lite MobileNetV2 (centermask2 centermask_lite_Mv2_FPN_ms_4x): the Lite V2-39 recipe on
# centermask2's MobileNetV2 (frozen BN, ReLU6, no 1280-channel conv; res3-res5 to the FPN).
# Pure-Python twin of configs/centermask/centermask-lite_mv2_fpn_ms-4x_coco.py.
from mmengine.config import read_base
from mmengine.model.weight_init import PretrainedInit
from torch.nn import BatchNorm2d

from mmdet_centermask.models import CenterMaskMobileNetV2

with read_base():
    from .centermask_lite_v2_39_fpn_ms_4x_coco import *

model.backbone = dict(
    type=CenterMaskMobileNetV2,
    out_indices=(2, 4, 6),
    frozen_stages=-1,
    norm_cfg=dict(type=BatchNorm2d, requires_grad=False),
    norm_eval=True,
    # converted with tools/model_converters/mobilenet_v2_to_mmdet.py
    init_cfg=dict(type=PretrainedInit, checkpoint='checkpoints/mobilenet_v2_detectron2_mmdet.pth'))
model.neck.in_channels = [32, 96, 320]
