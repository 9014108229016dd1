# ruff: noqa: F403, F405
# CenterMask-Lite V2-39 (SPEC section 3): 128-channel FPN, 2+2 FCOS tower convs, 2-conv SAG-Mask
# and MaskIoU heads; 4x = 360k iterations, steps 300k/340k; short side 580 or 600 (max 1000) in
# training, 600/1000 at test. Pure-Python twin of
# configs/centermask/centermask-lite_v2-39_fpn_ms-4x_coco.py.
from mmcv.transforms import LoadImageFromFile, RandomChoiceResize
from mmengine.config import read_base
from mmengine.optim.scheduler import LinearLR, MultiStepLR

from mmdet.datasets.transforms import LoadAnnotations, PackDetInputs, RandomFlip, Resize
from mmdet_centermask.datasets import CheckedLoadImageFromFile, LoadPolygonAnnotations

with read_base():
    from .centermask_v2_39_fpn_ms_3x_coco import *

lite_channels = 128
model.merge(
    dict(
        neck=dict(out_channels=lite_channels),
        bbox_head=dict(
            in_channels=lite_channels, feat_channels=lite_channels, stacked_convs=2),
        roi_head=dict(
            mask_roi_extractor=dict(out_channels=lite_channels),
            mask_head=dict(
                num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels),
            mask_iou_head=dict(
                num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels))))

train_pipeline = [
    dict(type=CheckedLoadImageFromFile, backend_args=None),
    dict(type=LoadPolygonAnnotations, with_bbox=True, with_mask=True),
    dict(
        type=RandomChoiceResize,
        scales=[(1000, 580), (1000, 600)],
        resize_type=Resize,  # mmdet's, see centermask_v2_39_fpn_ms_3x_coco.py
        keep_ratio=True),
    dict(type=RandomFlip, prob=0.5),
    dict(type=PackDetInputs)
]
test_pipeline = [
    dict(type=LoadImageFromFile, backend_args=None),
    dict(type=Resize, scale=(1000, 600), keep_ratio=True),
    dict(type=LoadAnnotations, with_bbox=True, with_mask=True),
    dict(
        type=PackDetInputs,
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader.dataset.pipeline = train_pipeline
val_dataloader.dataset.pipeline = test_pipeline
test_dataloader = val_dataloader

max_iters = 360000
train_cfg.update(dict(max_iters=max_iters))
param_scheduler = [
    dict(type=LinearLR, start_factor=0.001, by_epoch=False, begin=0, end=1001),
    dict(
        type=MultiStepLR,
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[300000, 340000],
        gamma=0.1)
]
