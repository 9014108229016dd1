# ruff: noqa: F403, F405
# CenterMask V2-39-FPN, 3x: VoVNetV2-39 (eSE + identity mapping), 270k iterations, steps 210k/250k,
# the 1x data pipeline (short side one of 640..800, step 32, max 1333). Pure-Python twin of
# configs/centermask/centermask_v2-39_fpn_ms-3x_coco.py (which goes through the R-50 ms-3x config).
from mmengine.config import read_base
from mmengine.model.weight_init import PretrainedInit
from mmengine.optim.scheduler import LinearLR, MultiStepLR
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

max_iters = 270000
train_cfg.update(dict(max_iters=max_iters))
param_scheduler = [
    dict(type=LinearLR, start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(
        type=MultiStepLR,
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[210000, 250000],
        gamma=0.1)
]
