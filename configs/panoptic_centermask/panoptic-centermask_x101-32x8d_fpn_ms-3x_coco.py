# Panoptic-CenterMask X-101-32x8d-FPN, 3x, multi-scale (centermask2
# panoptic_centermask_X_101_FPN_ms_3x): detectron2's ResNeXt-101 32x8d (MSRA X-101-32x8d.pkl,
# STRIDE_IN_1X1=False: the stride in the 3x3 conv, mmdet style='pytorch'), BGR input with the
# C2 model's pixel std.
_base_ = './panoptic-centermask_r50_fpn_ms-3x_coco.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(std=[57.375, 57.120, 58.395]),
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=32,
        base_width=8,
        style='pytorch',
        init_cfg=dict(type='Pretrained',
                      checkpoint='open-mmlab://detectron2/resnext101_32x8d')))
