# Panoptic-CenterMask R-101-FPN, 3x, multi-scale (centermask2 panoptic_centermask_R_101_FPN_ms_3x).
_base_ = './panoptic-centermask_r50_fpn_ms-3x_coco.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://detectron2/resnet101_caffe')))
