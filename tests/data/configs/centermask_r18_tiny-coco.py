# CenterMask with a randomly initialised ResNet-18 and 64-channel FPN and heads that trains in
# seconds on the CPU, on the COCO-format toy data that tests write to ./data/tiny_coco/
# (mmdet_centermask.testing.write_tiny_coco: four 128x128 images, two classes). Seeded and deterministic, 6
# iterations of 2 images, a checkpoint and a validation every 2, FiniteLossHook and RNGStateHook.
# GroupNorm in the backbone: a randomly initialised ResNet needs a normalisation (with frozen BN
# the losses explode), and GN does not depend on how a batch is split over processes.
_base_ = '../../../configs/centermask/centermask_r50_fpn_1x_coco.py'

data_root = 'data/tiny_coco/'
classes = ('square', 'bar')
metainfo = dict(classes=classes, palette=[(220, 20, 60), (0, 130, 200)])
num_classes = len(classes)

# From random weights, without warmup and in 6-20 iterations, three of centermask2's choices hold
# this toy model back: its smoothed GIoU pulls boxes that do not yet overlap their targets smaller,
# and its FPN initialisation does as much harm (either alone: bbox AP 0 after 20 iterations, 0.039
# with mmdet's); its MaskIoU fc initialisation diverges within 4 iterations at this lr. Here mmdet's
# loss and initialisations; the zoo configs keep centermask2's (with their 1000-iteration warmup).
model = dict(
    backbone=dict(depth=18, style='pytorch', init_cfg=None,
                  norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)),
    neck=dict(in_channels=[128, 256, 512], out_channels=64,
              init_cfg=dict(_delete_=True, type='Xavier', layer='Conv2d',
                            distribution='uniform')),
    bbox_head=dict(num_classes=num_classes, in_channels=64, feat_channels=64, stacked_convs=2,
                   norm_cfg=dict(type='GN', num_groups=16, requires_grad=True),
                   loss_bbox=dict(type='GIoULoss', loss_weight=1.0)),
    roi_head=dict(
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(num_classes=num_classes, num_convs=2, in_channels=64,
                       conv_out_channels=64),
        mask_iou_head=dict(num_classes=num_classes, num_convs=2, in_channels=64,
                           conv_out_channels=64, fc_out_channels=256,
                           init_cfg=[dict(type='Kaiming', override=dict(name='convs')),
                                     dict(type='Caffe2Xavier', override=dict(name='fcs')),
                                     dict(type='Normal', std=0.01,
                                          override=dict(name='fc_mask_iou'))])),
    # 1 positive per image: the RoI sampler draws from torch's generator whenever an image has
    # more (as the zoo's 128 do on COCO images with many objects), which resuming must reproduce
    train_cfg=dict(rcnn=dict(sampler=dict(num=4))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(160, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
dataset = dict(type='CocoDataset', data_root=data_root, metainfo=metainfo,
               ann_file='annotations/instances.json', data_prefix=dict(img='images/'))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**dataset, filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**dataset, test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/instances.json',
                     metric=['bbox', 'segm'])
test_evaluator = val_evaluator

max_iters = 6
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)]
optim_wrapper = dict(optimizer=dict(lr=0.005))
auto_scale_lr = dict(enable=False, base_batch_size=2)
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2))
# window_size=1: the logs hold each iteration's losses, not running means
log_processor = dict(by_epoch=False, window_size=1)
custom_hooks = [dict(type='FiniteLossHook'), dict(type='RNGStateHook')]
randomness = dict(seed=0, deterministic=True)
