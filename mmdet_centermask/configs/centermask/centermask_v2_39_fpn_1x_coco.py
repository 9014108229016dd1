# ruff: noqa: F403, F405
# CenterMask V2-39-FPN, 1x: VoVNetV2-39 (eSE + identity mapping) in the R-50 1x recipe.
# Pure-Python twin of configs/centermask/centermask_v2-39_fpn_1x_coco.py.
from mmengine.config import read_base
from mmengine.model.weight_init import PretrainedInit
from torch.nn import BatchNorm2d

from mmdet_centermask.models import VoVNet

with read_base():
    from .centermask_r50_fpn_1x_coco import *

model.backbone = dict(
    type=VoVNet,
    arch='V-39',
    out_indices=(1, 2, 3),
    frozen_stages=-1,  # every stage is trained; BN is frozen (SPEC section 3)
    norm_cfg=dict(type=BatchNorm2d, requires_grad=False),
    norm_eval=True,
    # detectron2 ImageNet weights (vovnet39_ese_detectron2.pth, BGR input) converted with
    # tools/model_converters/vovnet_to_mmdet.py; see configs/centermask/README.md
    init_cfg=dict(type=PretrainedInit, checkpoint='checkpoints/vovnet39_ese_detectron2_mmdet.pth'))
model.neck.in_channels = [512, 768, 1024]
