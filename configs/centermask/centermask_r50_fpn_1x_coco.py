# CenterMask R-50-FPN, 1x: 90k iterations at 16 images (8 GPUs x 2), centermask2's base recipe
# (Base-CenterMask-ResNet.yaml): short side one of 640..800 (step 32), max 1333, h-flip.
_base_ = [
    '../_base_/models/centermask_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

# polygons stay polygons (centermask2's mask and MaskIoU targets); an image with RLE masks on
# non-crowd instances falls back to bitmaps (LoadPolygonAnnotations). CheckedLoadImageFromFile:
# images as stored (EXIF orientation only where the annotation's size asks for it), 16-bit
# content scaled to 8 bits, a size that disagrees with the annotation an error
train_pipeline = [
    dict(type='CheckedLoadImageFromFile', backend_args=None),
    dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
# CheckedCocoDataset: duplicate image ids, unknown categories, NaN or empty boxes and degenerate
# masks are named when the file is read (annotation_check='warn' drops and counts, 'strict' stops)
train_dataloader = dict(
    batch_size=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='CheckedCocoDataset', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
test_dataloader = val_dataloader

max_iters = 90000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1001),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[60000, 80000],
        gamma=0.1)
]
# no weight decay on normalisation layers (detectron2 WEIGHT_DECAY_NORM=0), no gradient clipping
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(norm_decay_mult=0.0))
# lr 0.01 is for 16 images per iteration; `--auto-scale-lr` scales it to other batch sizes
auto_scale_lr = dict(enable=False, base_batch_size=16)

default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000))
log_processor = dict(by_epoch=False)
custom_hooks = [
    dict(type='NumClassCheckHook'),  # num_classes of the three heads vs the dataset's classes
    dict(type='FiniteLossHook'),  # stops at a NaN/inf loss, naming it and what to try
    dict(type='RNGStateHook'),  # random states in checkpoints: --resume continues exactly
    dict(type='EvalProgressBarHook'),
]

# `tools/test.py --tta`: centermask2's TEST.AUG (detectron2's GeneralizedRCNNWithTTA). Short side
# 400 to 1200 in steps of 100 (long side at most 4000), each with and without a horizontal flip;
# the 18 views' FCOS boxes merged by per-class NMS at IoU 0.5 (ROI_HEADS.NMS_THRESH_TEST), the best
# 100 kept (TEST.DETECTIONS_PER_IMAGE), their masks averaged over the views and ranked by the box
# scores (mask_scores='box': centermask2's TTA drops the MaskIoU scores)
tta_model = dict(
    type='CenterMaskTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100, mask_scores='box'))
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=(4000, short_side), keep_ratio=True)
             for short_side in range(400, 1201, 100)],
            [dict(type='RandomFlip', prob=0.), dict(type='RandomFlip', prob=1.)],
            [dict(
                type='PackDetInputs',
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                           'flip_direction'))],
        ])
]
