_base_ = './centermask-lite_v2-39_fpn_ms-4x_coco.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        arch='V-19',
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/vovnet19_ese_detectron2_mmdet.pth'
        ),
    ),
    neck=dict(in_channels=[512, 768, 1024]),
)
