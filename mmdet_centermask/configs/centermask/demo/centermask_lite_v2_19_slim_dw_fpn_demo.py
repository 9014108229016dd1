# ruff: noqa: F403, F405
# CenterMask-Lite V2-19-slim-dw on the bundled demo data (tools/dataset_converters/
# make_demo_dataset.py), trained from scratch on 2 CPU cores in about 7 minutes. Pure-Python twin
# of configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py, where the choices are
# explained: only data, classes, input size and schedule (optimiser included) differ from the zoo
# config, plus no Pretrained init and trainable BN.
from mmcv.transforms import LoadImageFromFile, RandomChoiceResize
from mmengine.config import read_base
from mmengine.hooks import CheckpointHook, LoggerHook
from mmengine.optim.scheduler import LinearLR, MultiStepLR
from mmengine.runner.loops import IterBasedTrainLoop
from torch.nn import BatchNorm2d
from torch.optim import AdamW

from mmdet.datasets.transforms import LoadAnnotations, PackDetInputs, RandomFlip, Resize
from mmdet.engine.hooks import DetVisualizationHook
from mmdet_centermask.datasets import CheckedLoadImageFromFile, LoadPolygonAnnotations

with read_base():
    from ..centermask_lite_v2_19_slim_dw_fpn_ms_4x_coco import *

data_root = 'data/centermask_demo/'
classes = ('person', 'bottle', 'coin', 'horse', 'logo')
metainfo = dict(
    classes=classes,
    palette=[(220, 20, 60), (0, 130, 200), (255, 180, 0), (60, 180, 75), (145, 30, 180)],
)
num_classes = len(classes)

model.merge(
    dict(
        backbone=dict(
            norm_cfg=dict(type=BatchNorm2d, requires_grad=True), norm_eval=False, init_cfg=None),
        bbox_head=dict(num_classes=num_classes),
        roi_head=dict(
            mask_head=dict(num_classes=num_classes),
            mask_iou_head=dict(num_classes=num_classes))))

# the demo images are 256-320 x 320-384: train slightly below that, test at 352 x 288
train_pipeline = [
    dict(type=CheckedLoadImageFromFile, backend_args=None),
    dict(type=LoadPolygonAnnotations, with_bbox=True, with_mask=True),
    dict(
        type=RandomChoiceResize,
        scales=[(352, 256), (352, 288), (352, 320)],
        resize_type=Resize,
        keep_ratio=True),
    dict(type=RandomFlip, prob=0.5),
    dict(type=PackDetInputs),
]
test_pipeline = [
    dict(type=LoadImageFromFile, backend_args=None),
    dict(type=Resize, scale=(352, 288), keep_ratio=True),
    dict(type=LoadAnnotations, with_bbox=True, with_mask=True),
    dict(
        type=PackDetInputs,
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
train_dataloader.merge(
    dict(
        batch_size=4,
        num_workers=1,
        persistent_workers=True,
        dataset=dict(
            data_root=data_root,
            metainfo=metainfo,
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img='train/'),
            pipeline=train_pipeline)))
val_dataloader.merge(
    dict(
        batch_size=4,
        num_workers=1,
        persistent_workers=True,
        dataset=dict(
            data_root=data_root,
            metainfo=metainfo,
            ann_file='annotations/instances_val.json',
            data_prefix=dict(img='val/'),
            pipeline=test_pipeline)))
test_dataloader = val_dataloader
val_evaluator.ann_file = data_root + 'annotations/instances_val.json'
test_evaluator = val_evaluator

# schedule: about 7 minutes on 2 CPU cores (AdamW: see the classic twin)
max_iters = 360
train_cfg = dict(type=IterBasedTrainLoop, max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type=LinearLR, start_factor=0.001, by_epoch=False, begin=0, end=60),
    dict(
        type=MultiStepLR, begin=0, end=max_iters, by_epoch=False, milestones=[290, 340], gamma=0.1
    ),
]
optim_wrapper.optimizer = dict(type=AdamW, lr=0.001, weight_decay=0.05)
optim_wrapper.clip_grad = dict(max_norm=35, norm_type=2)
auto_scale_lr = dict(enable=False, base_batch_size=4)
default_hooks.merge(
    dict(
        logger=dict(type=LoggerHook, interval=20),
        checkpoint=dict(type=CheckpointHook, by_epoch=False, interval=120, max_keep_ckpts=2),
        # scores are sqrt(cls * centerness): 0.5 keeps the confident detections in the pictures
        visualization=dict(type=DetVisualizationHook, draw=False, score_thr=0.5),
    ))
randomness = dict(seed=0)
