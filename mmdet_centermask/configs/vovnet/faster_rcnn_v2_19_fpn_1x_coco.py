# ruff: noqa: F403, F405
# Faster R-CNN with the VoVNetV2-19 backbone in mmdet's R-50-FPN 1x recipe. Pure-Python twin of
# configs/vovnet/faster-rcnn_v2-19_fpn_1x_coco.py.
from mmengine.config import read_base
from mmengine.model.weight_init import PretrainedInit
from torch.nn import BatchNorm2d

from mmdet_centermask.models import VoVNet

with read_base():
    from .._base_.datasets.coco_detection import *
    from .._base_.default_runtime import *
    from .._base_.models.faster_rcnn_r50_fpn import *
    from .._base_.schedules.schedule_1x import *

# the detectron2 VoVNet ImageNet weights were trained on BGR input with this mean and std 1
model.data_preprocessor.update(
    dict(mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False))
model.backbone = dict(
    type=VoVNet,
    arch='V-19',
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,  # stem and stage2, as mmdet's ResNet configs freeze stem and layer1
    norm_cfg=dict(type=BatchNorm2d, requires_grad=True),
    norm_eval=True,
    # converted with tools/model_converters/vovnet_to_mmdet.py; see configs/vovnet/README.md
    init_cfg=dict(type=PretrainedInit, checkpoint='checkpoints/vovnet19_ese_detectron2_mmdet.pth'))
model.neck.in_channels = [256, 512, 768, 1024]
