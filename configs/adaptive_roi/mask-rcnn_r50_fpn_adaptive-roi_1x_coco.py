_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

# Mask R-CNN R-50-FPN 1x with CenterMask's Equation 2 RoI level assignment instead of FPN's
# Equation 1 in both RoI extractors; levels P2-P5 (strides 4-32) give k_min = 2, k_max = 5.
# mmdet's StandardRoIHead calls the extractors with (feats, rois) only, so A_input is the padded
# batch input area (feats[0] size * stride 4), not each image's unpadded img_shape.
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        bbox_roi_extractor=dict(
            type='AdaptiveRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0, aligned=True),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32]),
        mask_roi_extractor=dict(
            type='AdaptiveRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0, aligned=True),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32])))
