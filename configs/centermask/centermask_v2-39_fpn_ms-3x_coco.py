# CenterMask with the VoVNetV2-39 backbone (eSE + identity mapping), recipe of
# centermask_r50_fpn_ms-3x_coco.py.
_base_ = './centermask_r50_fpn_ms-3x_coco.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='VoVNet',
        arch='V-39',
        out_indices=(1, 2, 3),
        frozen_stages=-1,  # every stage is trained; BN is frozen (SPEC section 3)
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        # detectron2 ImageNet weights (vovnet39_ese_detectron2.pth, BGR input) converted with
        # tools/model_converters/vovnet_to_mmdet.py; see configs/centermask/README.md
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/vovnet39_ese_detectron2_mmdet.pth')),
    neck=dict(in_channels=[512, 768, 1024]))
