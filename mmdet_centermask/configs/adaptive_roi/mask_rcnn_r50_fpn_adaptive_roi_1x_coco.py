# ruff: noqa: F403, F405
# Mask R-CNN R-50-FPN 1x with CenterMask's Equation 2 RoI level assignment in both RoI extractors
# (levels P2-P5: k_min = 2, k_max = 5). Pure-Python twin of
# configs/adaptive_roi/mask-rcnn_r50_fpn_adaptive-roi_1x_coco.py, which explains A_input.
from mmengine.config import read_base

from mmdet_centermask.models import AdaptiveRoIExtractor

with read_base():
    from .._base_.datasets.coco_instance import *
    from .._base_.default_runtime import *
    from .._base_.models.mask_rcnn_r50_fpn import *
    from .._base_.schedules.schedule_1x import *

model.roi_head.merge(
    dict(
        bbox_roi_extractor=dict(
            type=AdaptiveRoIExtractor,
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0, aligned=True),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32]),
        mask_roi_extractor=dict(
            type=AdaptiveRoIExtractor,
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0, aligned=True),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32])))
