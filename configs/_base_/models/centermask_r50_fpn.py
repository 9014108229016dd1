# CenterMask R-50-FPN (SPEC sections 2 and 3; centermask2 Base-CenterMask-ResNet): ResNet -> FPN
# P3-P7 ->
# class-aware FCOS (its boxes are the detections) -> Equation 2 RoIAlign on P3-P5 -> SAG-Mask ->
# MaskIoU.
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

model = dict(
    type='CenterMask',
    # detectron2 ImageNet weights: BGR input, mean subtracted, std 1
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[103.530, 116.280, 123.675],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,  # detectron2 FREEZE_AT=2: stem and res2
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='caffe',
        init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://detectron2/resnet50_caffe')),
    neck=dict(
        type='FPN',
        in_channels=[512, 1024, 2048],
        out_channels=256,
        start_level=0,
        add_extra_convs='on_output',  # P6 from the P5 output, P7 from ReLU(P6)
        relu_before_extra_convs=True,
        num_outs=5,
        # detectron2's c2_xavier_fill (kaiming_uniform_, a=1) on every FPN conv, P6/P7 included
        init_cfg=dict(
            type='Kaiming', layer='Conv2d', a=1, mode='fan_in', nonlinearity='leaky_relu',
            distribution='uniform')),
    bbox_head=dict(
        type='CenterMaskFCOSHead',
        num_classes=80,
        in_channels=256,
        feat_channels=256,
        stacked_convs=4,
        strides=[8, 16, 32, 64, 128],
        regress_ranges=((-1, 64), (64, 128), (128, 256), (256, 512), (512, 1e8)),
        center_sampling=True,
        center_sample_radius=1.5,
        norm_on_bbox=True,
        centerness_on_reg=True,
        conv_bias=True,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        sqrt_score=True,
        # centermask2 decodes without clipping: NMS, Equation 2, RoIAlign and MaskIoU see the
        # boxes as predicted; CenterMaskRoIHead clips them at the end
        bbox_coder=dict(type='DistancePointBBoxCoder', clip_border=False),
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        # GIoU with centermask2's (I + 1) / (U + 1) smoothing on stride-normalised distances
        loss_bbox=dict(type='SmoothedGIoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    roi_head=dict(
        type='CenterMaskRoIHead',
        mask_roi_extractor=dict(
            type='AdaptiveRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0, aligned=True),
            out_channels=256,
            featmap_strides=[8, 16, 32]),
        mask_head=dict(
            type='SAGMaskHead',
            num_convs=4,
            roi_feat_size=14,
            in_channels=256,
            conv_out_channels=256,
            num_classes=80,
            loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0)),
        mask_iou_head=dict(
            # mmdet's MaskIoUHead with centermask2's polygon area ratio, clamps and fc init
            type='CenterMaskIoUHead',
            num_convs=4,
            num_fcs=2,
            roi_feat_size=14,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            num_classes=80,
            # 0.5 * mean squared error on targets > 0, i.e. centermask2's L_maskiou with weight 1
            loss_iou=dict(type='MSELoss', loss_weight=0.5))),
    train_cfg=dict(
        # the FCOS detections sampled for the mask branch: post-NMS top-100 per image
        bbox=dict(
            nms_pre=1000,
            min_bbox_size=-1,  # zero-size boxes stay, as in centermask2, until the final clip
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=100),
        rcnn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.5,
                min_pos_iou=0.5,
                match_low_quality=False,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler',
                num=512,
                pos_fraction=0.25,
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            mask_size=28,
            # MaskIoUHead binarises the mask LOGITS with this: 0 == probability 0.5 (centermask2)
            mask_thr_binary=0.0,
            pos_weight=-1)),
    test_cfg=dict(
        bbox=dict(
            nms_pre=1000,
            min_bbox_size=-1,  # zero-size boxes stay, as in centermask2, until the final clip
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.6),
            max_per_img=50),
        # boxes clipped to the image at the end, empty ones dropped, masks pasted into the
        # clipped boxes (centermask2); 'predicted_boxes' pastes where each mask was predicted
        rcnn=dict(mask_thr_binary=0.5, paste_masks_into='clipped_boxes')))
