_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
# Mask R-CNN with the VoVNetV2-39 backbone; everything else is mmdet's R-50-FPN 1x recipe.
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

model = dict(
    # The detectron2 VoVNet ImageNet weights were trained on BGR input with this mean and std 1
    # (centermask2 / vovnet-detectron2 PIXEL_MEAN, PIXEL_STD).
    data_preprocessor=dict(
        mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='VoVNet',
        arch='V-39',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,  # stem and stage2, as mmdet's ResNet configs freeze stem and layer1
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        # detectron2 ImageNet weights (vovnet39_ese_detectron2.pth) converted with
        # tools/model_converters/vovnet_to_mmdet.py; see configs/vovnet/README.md
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/vovnet39_ese_detectron2_mmdet.pth')),
    neck=dict(in_channels=[256, 512, 768, 1024]))
