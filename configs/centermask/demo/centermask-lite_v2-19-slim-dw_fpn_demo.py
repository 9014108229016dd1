# CenterMask-Lite V2-19-slim-dw on the bundled demo data
# (tools/dataset_converters/make_demo_dataset.py), trained from scratch on 2 CPU cores in about 7
# minutes: the main job of `make demo`. Only data, classes, input size and schedule (optimiser
# included) differ from the zoo config, plus what training without ImageNet weights needs: no
# Pretrained init and trainable BN.
_base_ = '../centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

data_root = 'data/centermask_demo/'
classes = ('person', 'bottle', 'coin', 'horse', 'logo')
metainfo = dict(
    classes=classes,
    palette=[(220, 20, 60), (0, 130, 200), (255, 180, 0), (60, 180, 75), (145, 30, 180)],
)
num_classes = len(classes)

model = dict(
    backbone=dict(norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, init_cfg=None),
    bbox_head=dict(num_classes=num_classes),
    roi_head=dict(
        mask_head=dict(num_classes=num_classes), mask_iou_head=dict(num_classes=num_classes)
    ),
)

# the demo images are 256-320 x 320-384: train slightly below that, test at 352 x 288
train_pipeline = [
    dict(type='CheckedLoadImageFromFile', backend_args=None),
    dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize', scales=[(352, 256), (352, 288), (352, 320)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(352, 288), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# schedule: about 7 minutes on 2 CPU cores. Training from scratch, AdamW learns the masks within the
# budget and stays stable; the zoo's SGD diverges at lr 0.02 on this data (the MaskIoU loss
# explodes after the warmup) and at lr 0.01 has barely started on the masks after 360 iterations.
max_iters = 360
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=60),
    dict(
        type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[290, 340], gamma=0.1
    ),
]
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.001, weight_decay=0.05),
    clip_grad=dict(max_norm=35, norm_type=2),
)
auto_scale_lr = dict(enable=False, base_batch_size=4)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=120, max_keep_ckpts=2),
    # scores are sqrt(cls * centerness): 0.5 keeps the confident detections in the pictures
    visualization=dict(type='DetVisualizationHook', draw=False, score_thr=0.5),
)
randomness = dict(seed=0)
