# The model of mmdet's classic `fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py` (mmdet 3.3.0) in the
# pure-Python style.
from mmdet.models import (CrossEntropyLoss, DetDataPreprocessor, FCOS, FCOSHead, FPN, FocalLoss,
                          IoULoss, ResNet)
from mmengine.model.weight_init import PretrainedInit
from torch.nn import BatchNorm2d

model = dict(
    type=FCOS,
    data_preprocessor=dict(
        type=DetDataPreprocessor,
        mean=[102.9801, 115.9465, 122.7717],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    backbone=dict(
        type=ResNet,
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type=BatchNorm2d, requires_grad=False),
        norm_eval=True,
        style='caffe',
        init_cfg=dict(type=PretrainedInit, checkpoint='open-mmlab://detectron/resnet50_caffe')),
    neck=dict(
        type=FPN,
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type=FCOSHead,
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        strides=[8, 16, 32, 64, 128],
        loss_cls=dict(type=FocalLoss, use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type=IoULoss, loss_weight=1.0),
        loss_centerness=dict(type=CrossEntropyLoss, use_sigmoid=True, loss_weight=1.0)),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100))
