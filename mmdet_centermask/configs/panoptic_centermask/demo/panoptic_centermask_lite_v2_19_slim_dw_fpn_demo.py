# ruff: noqa: F403, F405
# Panoptic-CenterMask-Lite V2-19-slim-dw on the bundled demo data in COCO panoptic format (5 thing
# classes, 3 stuff classes): the optional second demo. The instance demo's model, schedule and
# optimiser plus the panoptic parts of the R-50 zoo config on the Lite model's 128-channel FPN.
# Pure-Python twin of
# configs/panoptic_centermask/demo/panoptic-centermask-lite_v2-19-slim-dw_fpn_demo.py.
from mmcv.transforms import LoadImageFromFile, RandomChoiceResize
from mmengine.config import read_base
from torch.nn import GroupNorm

from mmdet.datasets.transforms import PackDetInputs, RandomFlip, Resize
from mmdet.evaluation import CocoMetric, CocoPanopticMetric
from mmdet.models.losses import CrossEntropyLoss
from mmdet_centermask.compat import CompatFixesHook
from mmdet_centermask.datasets import (CheckedCocoPanopticDataset, CheckedLoadImageFromFile,
                                       CheckedLoadPanopticAnnotations,
                                       CocoPanopticSeparatedDataset, LoadPolygonAnnotations)
from mmdet_centermask.engine import (EvalProgressBarHook, FiniteLossHook, PanopticClassCheckHook,
                                     RNGStateHook)
from mmdet_centermask.models import (PanopticCenterMask, SemSegFPNHead,
                                     ThresholdedHeuristicFusionHead)

with read_base():
    from ...centermask.demo.centermask_lite_v2_19_slim_dw_fpn_demo import *

data_root = 'data/centermask_demo/'
thing_classes = ('person', 'bottle', 'coin', 'horse', 'logo')
stuff_classes = ('grass', 'gravel', 'brick')
metainfo = dict(
    classes=thing_classes + stuff_classes,
    thing_classes=thing_classes,
    stuff_classes=stuff_classes,
    palette=[(220, 20, 60), (0, 130, 200), (255, 180, 0), (60, 180, 75), (145, 30, 180),
             (110, 160, 60), (150, 150, 150), (170, 90, 60)],
)
model.type = PanopticCenterMask
model.merge(
    dict(
        data_preprocessor=dict(pad_seg=True, seg_pad_value=255),
        backbone=dict(out_indices=(0, 1, 2, 3)),
        neck=dict(in_channels=[112, 256, 384, 512], num_outs=6),
        semantic_head=dict(
            type=SemSegFPNHead,
            num_things_classes=len(thing_classes),
            num_stuff_classes=len(stuff_classes),
            in_channels=128,
            inner_channels=128,
            start_level=0,
            end_level=4,
            norm_cfg=dict(type=GroupNorm, num_groups=32, requires_grad=True),
            loss_seg=dict(
                type=CrossEntropyLoss, ignore_index=255, avg_non_ignore=True, loss_weight=0.5)),
        panoptic_fusion_head=dict(type=ThresholdedHeuristicFusionHead),
        test_cfg=dict(
            panoptic=dict(instance_score_thr=0.5, mask_overlap=0.5, stuff_area_limit=4096))))

# instances with their polygons from instances_train.json, the semantic map from the panoptic PNGs
train_pipeline = [
    dict(type=CheckedLoadImageFromFile, backend_args=None),
    dict(type=LoadPolygonAnnotations, with_bbox=True, with_mask=True),
    dict(
        type=CheckedLoadPanopticAnnotations,
        with_bbox=False,
        with_label=False,
        with_mask=False,
        with_seg=True,
        backend_args=None,
    ),
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
    dict(type=CheckedLoadPanopticAnnotations, backend_args=None),
    dict(
        type=PackDetInputs,
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
train_dataloader.dataset = dict(
    type=CocoPanopticSeparatedDataset,
    data_root=data_root,
    metainfo=metainfo,
    ann_file='annotations/instances_train.json',
    panoptic_ann_file='annotations/panoptic_train.json',
    data_prefix=dict(img='train/', seg='annotations/panoptic_train/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=train_pipeline,
)
val_dataloader.dataset = dict(
    type=CheckedCocoPanopticDataset,
    data_root=data_root,
    metainfo=metainfo,
    ann_file='annotations/panoptic_val.json',
    data_prefix=dict(img='val/', seg='annotations/panoptic_val/'),
    test_mode=True,
    pipeline=test_pipeline,
)
test_dataloader = val_dataloader
val_evaluator = [
    dict(
        type=CocoPanopticMetric,
        ann_file=data_root + 'annotations/panoptic_val.json',
        seg_prefix=data_root + 'annotations/panoptic_val/',
    ),
    dict(type=CocoMetric, ann_file=data_root + 'annotations/instances_val.json',
         metric=['bbox', 'segm']),
]
test_evaluator = val_evaluator
custom_hooks = [
    dict(type=CompatFixesHook),  # the fixes of mmdet_centermask.compat this stack needs
    dict(type=PanopticClassCheckHook),
    dict(type=FiniteLossHook),
    dict(type=RNGStateHook),
    dict(type=EvalProgressBarHook),
]
