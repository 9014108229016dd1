# CenterMask R-50-FPN, 1x: 90k iterations at 16 images (8 GPUs x 2), single scale 800
# (SPEC section 3).
_base_ = [
    '../_base_/models/centermask_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmdet_centermask'], allow_failed_imports=False)

train_dataloader = dict(batch_size=2, sampler=dict(type='InfiniteSampler', shuffle=True))

max_iters = 90000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
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
