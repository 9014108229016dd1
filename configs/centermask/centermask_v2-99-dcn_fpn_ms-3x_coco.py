# Deformable VoVNetV2-99: modulated deformable convolution (DCNv2) in every 3x3 conv of stages 3-5.
_base_ = './centermask_v2-99_fpn_ms-3x_coco.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True)))
