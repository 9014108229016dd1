# CenterMask-Lite MobileNetV2 (centermask2 centermask_lite_Mv2_FPN_ms_4x): the Lite V2-39 recipe
# (128-channel FPN, 2+2 FCOS tower convs, 2-conv heads, 4x, short side 580/600 max 1000) on
# centermask2's MobileNetV2: every BN frozen, ReLU6, no final 1280-channel conv (FREEZE_AT 0: every
# conv trained); the FPN takes res3-res5 (32, 96 and 320 channels at strides 8-32).
_base_ = './centermask-lite_v2-39_fpn_ms-4x_coco.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='CenterMaskMobileNetV2',
        out_indices=(2, 4, 6),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        # centermask2's ImageNet weights (mobilenet_v2_detectron2.pth, BGR input, mean
        # subtraction only) converted with tools/model_converters/mobilenet_v2_to_mmdet.py
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/mobilenet_v2_detectron2_mmdet.pth')),
    neck=dict(in_channels=[32, 96, 320]))
