# ruff: noqa: F403, F405
# CenterMask V2-39 on the bundled demo data: the larger twin of centermask_lite_v2_19_slim_dw_
# fpn_demo.py (its data, classes, input size and schedule) with the model of
# centermask_v2_39_fpn_ms_3x_coco.py. Pure-Python twin of
# configs/centermask/demo/centermask_v2-39_fpn_demo.py.
from mmengine.config import read_base

with read_base():
    from .centermask_lite_v2_19_slim_dw_fpn_demo import *

channels = 256
model.merge(
    dict(
        backbone=dict(arch='V-39'),
        neck=dict(in_channels=[512, 768, 1024], out_channels=channels),
        bbox_head=dict(in_channels=channels, feat_channels=channels, stacked_convs=4),
        roi_head=dict(
            mask_roi_extractor=dict(out_channels=channels),
            mask_head=dict(num_convs=4, in_channels=channels, conv_out_channels=channels),
            mask_iou_head=dict(num_convs=4, in_channels=channels, conv_out_channels=channels),
        )))
