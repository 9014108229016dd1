# CenterMask-Lite V2-39 (SPEC section 3): 128-channel FPN, 2+2 FCOS tower convs, 2-conv SAG-Mask
# and MaskIoU heads; 4x = 360k iterations, steps 300k/340k; short side 580 or 600 (max 1000) in
# training, 600/1000 at test.
_base_ = './centermask_v2-39_fpn_ms-3x_coco.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

lite_channels = 128
model = dict(
    neck=dict(out_channels=lite_channels),
    bbox_head=dict(in_channels=lite_channels, feat_channels=lite_channels, stacked_convs=2),
    roi_head=dict(
        mask_roi_extractor=dict(out_channels=lite_channels),
        mask_head=dict(num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels),
        mask_iou_head=dict(
            num_convs=2, in_channels=lite_channels, conv_out_channels=lite_channels)))

train_pipeline = [
    dict(type='CheckedLoadImageFromFile', backend_args=None),
    dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize', scales=[(1000, 580), (1000, 600)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 360000
train_cfg = dict(max_iters=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1001),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[300000, 340000],
        gamma=0.1)
]
