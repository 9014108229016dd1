# Panoptic-CenterMask V2-57-FPN, 3x, multi-scale (centermask2
# panoptic_centermask_V_57_eSE_FPN_ms_3x).
_base_ = './panoptic-centermask_v2-39_fpn_ms-3x_coco.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        arch='V-57',
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/vovnet57_ese_detectron2_mmdet.pth')))
