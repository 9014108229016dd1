# CenterMask R-50-FPN, 3x: 270k iterations, steps 210k/250k; the data pipeline of the 1x config
# (short side one of 640..800, step 32, max 1333).
_base_ = './centermask_r50_fpn_1x_coco.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

max_iters = 270000
train_cfg = dict(max_iters=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1001),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[210000, 250000],
        gamma=0.1)
]
