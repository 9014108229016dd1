# ruff: noqa: F403, F405
# CenterMask R-50-FPN, 1x: 90k iterations at 16 images (8 GPUs x 2), centermask2's base recipe:
# short side one of 640..800 (step 32), max 1333, h-flip. Pure-Python twin of
# configs/centermask/centermask_r50_fpn_1x_coco.py.
from mmcv.transforms import LoadImageFromFile, RandomChoiceResize, TestTimeAug
from mmengine.config import read_base
from mmengine.dataset.sampler import InfiniteSampler
from mmengine.optim.optimizer import OptimWrapper
from mmengine.optim.scheduler import LinearLR, MultiStepLR
from mmengine.runner.loops import IterBasedTrainLoop, TestLoop, ValLoop
from torch.optim import SGD

from mmdet.datasets.transforms import PackDetInputs, RandomFlip, Resize
from mmdet.engine.hooks import NumClassCheckHook
from mmdet_centermask.compat import CompatFixesHook
from mmdet_centermask.datasets import (CheckedCocoDataset, CheckedLoadImageFromFile,
                                        LoadPolygonAnnotations)
from mmdet_centermask.engine import EvalProgressBarHook, FiniteLossHook, RNGStateHook
from mmdet_centermask.models import CenterMaskTTAModel

with read_base():
    from .._base_.datasets.coco_instance import *
    from .._base_.default_runtime import *
    from .._base_.models.centermask_r50_fpn import *

# polygons stay polygons (centermask2's mask and MaskIoU targets); an image with RLE masks on
# non-crowd instances falls back to bitmaps (LoadPolygonAnnotations). CheckedLoadImageFromFile:
# images as stored (EXIF orientation only where the annotation's size asks for it), 16-bit
# content scaled to 8 bits, a size that disagrees with the annotation an error
train_pipeline = [
    dict(type=CheckedLoadImageFromFile, backend_args=None),
    dict(type=LoadPolygonAnnotations, with_bbox=True, with_mask=True),
    dict(
        type=RandomChoiceResize,
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
        # mmdet's Resize (boxes, masks): the classic config gets it from the mmdet scope, but
        # without a default scope mmcv's default resize_type='Resize' would be mmcv's own
        resize_type=Resize,
        keep_ratio=True),
    dict(type=RandomFlip, prob=0.5),
    dict(type=PackDetInputs)
]
train_dataloader.update(dict(batch_size=2, sampler=dict(type=InfiniteSampler, shuffle=True)))
train_dataloader.dataset.pipeline = train_pipeline
# CheckedCocoDataset: duplicate image ids, unknown categories, NaN or empty boxes and degenerate
# masks are named when the file is read (annotation_check='warn' drops and counts, 'strict' stops)
train_dataloader.dataset.type = CheckedCocoDataset
val_dataloader.dataset.type = CheckedCocoDataset
test_dataloader = val_dataloader

max_iters = 90000
train_cfg = dict(type=IterBasedTrainLoop, max_iters=max_iters, val_interval=10000)
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
param_scheduler = [
    dict(type=LinearLR, start_factor=0.001, by_epoch=False, begin=0, end=1001),
    dict(
        type=MultiStepLR,
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[60000, 80000],
        gamma=0.1)
]
# no weight decay on normalisation layers (detectron2 WEIGHT_DECAY_NORM=0), no gradient clipping
optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=SGD, lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(norm_decay_mult=0.0))
# lr 0.01 is for 16 images per iteration; `--auto-scale-lr` scales it to other batch sizes
auto_scale_lr = dict(enable=False, base_batch_size=16)

default_hooks.checkpoint.update(dict(by_epoch=False, interval=10000))
log_processor.update(dict(by_epoch=False))
custom_hooks = [
    dict(type=CompatFixesHook),  # the fixes of mmdet_centermask.compat this stack needs
    dict(type=NumClassCheckHook),  # num_classes of the three heads vs the dataset's classes
    dict(type=FiniteLossHook),  # stops at a NaN/inf loss, naming it and what to try
    dict(type=RNGStateHook),  # random states in checkpoints: --resume continues exactly
    dict(type=EvalProgressBarHook),
]

# `tools/test.py --tta`: centermask2's TEST.AUG, 18 views (short side 400 to 1200 step 100, max
# 4000, with and without a horizontal flip), boxes merged by NMS at 0.5, top 100, masks averaged
# and ranked by the box scores (see the classic twin)
tta_model = dict(
    type=CenterMaskTTAModel,
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100, mask_scores='box'))
tta_pipeline = [
    dict(type=LoadImageFromFile, backend_args=None),
    dict(
        type=TestTimeAug,
        transforms=[
            [dict(type=Resize, scale=(4000, short_side), keep_ratio=True)
             for short_side in range(400, 1201, 100)],
            [dict(type=RandomFlip, prob=0.), dict(type=RandomFlip, prob=1.)],
            [dict(
                type=PackDetInputs,
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                           'flip_direction'))],
        ])
]
