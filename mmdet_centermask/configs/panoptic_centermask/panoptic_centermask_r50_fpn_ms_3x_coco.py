# ruff: noqa: F403, F405
# Panoptic-CenterMask R-50-FPN, 3x, multi-scale (centermask2 panoptic_centermask_R_50_FPN_ms_3x):
# CenterMask with detectron2's Panoptic FPN semantic branch; FCOS and the mask branch read P3-P7,
# the semantic head P2-P5 (53 stuff classes + 1 things class, loss weight 0.5). Pure-Python twin
# of configs/panoptic_centermask/panoptic-centermask_r50_fpn_ms-3x_coco.py (data described there).
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
    from ..centermask.centermask_r50_fpn_ms_3x_coco import *

num_things_classes = 80
num_stuff_classes = 53
model.type = PanopticCenterMask
model.merge(
    dict(
        # semantic ground truth is padded with void (255), as detectron2's ImageList.from_tensors
        data_preprocessor=dict(pad_seg=True, seg_pad_value=255),
        backbone=dict(out_indices=(0, 1, 2, 3)),
        neck=dict(in_channels=[256, 512, 1024, 2048], num_outs=6),
        semantic_head=dict(
            type=SemSegFPNHead,
            num_things_classes=num_things_classes,
            num_stuff_classes=num_stuff_classes,
            in_channels=256,
            inner_channels=128,
            start_level=0,
            end_level=4,
            norm_cfg=dict(type=GroupNorm, num_groups=32, requires_grad=True),
            loss_seg=dict(
                type=CrossEntropyLoss, ignore_index=255, avg_non_ignore=True, loss_weight=0.5)),
        panoptic_fusion_head=dict(type=ThresholdedHeuristicFusionHead),
        # detectron2 PANOPTIC_FPN.COMBINE defaults
        test_cfg=dict(
            panoptic=dict(instance_score_thr=0.5, mask_overlap=0.5, stuff_area_limit=4096))))

data_root = 'data/coco/'
backend_args = None
train_pipeline = [
    dict(type=CheckedLoadImageFromFile, backend_args=backend_args),
    dict(type=LoadPolygonAnnotations, with_bbox=True, with_mask=True),
    dict(
        type=CheckedLoadPanopticAnnotations,
        with_bbox=False,
        with_label=False,
        with_mask=False,
        with_seg=True,
        backend_args=backend_args),
    dict(
        type=RandomChoiceResize,
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768), (1333, 800)],
        resize_type=Resize,
        keep_ratio=True),
    dict(type=RandomFlip, prob=0.5),
    dict(type=PackDetInputs)
]
test_pipeline = [
    dict(type=LoadImageFromFile, backend_args=backend_args),
    dict(type=Resize, scale=(1333, 800), keep_ratio=True),
    dict(type=CheckedLoadPanopticAnnotations, backend_args=backend_args),
    dict(
        type=PackDetInputs,
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader.dataset = dict(
    type=CocoPanopticSeparatedDataset,
    data_root=data_root,
    ann_file='annotations/instances_train2017.json',
    panoptic_ann_file='annotations/panoptic_train2017.json',
    data_prefix=dict(img='train2017/', seg='annotations/panoptic_train2017/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=train_pipeline,
    backend_args=backend_args)
val_dataloader.dataset = dict(
    type=CheckedCocoPanopticDataset,
    data_root=data_root,
    ann_file='annotations/panoptic_val2017.json',
    data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'),
    test_mode=True,
    pipeline=test_pipeline,
    backend_args=backend_args)
test_dataloader = val_dataloader
# PQ / SQ / RQ and, on the same predictions, the box and mask AP of the instances
val_evaluator = [
    dict(
        type=CocoPanopticMetric,
        ann_file=data_root + 'annotations/panoptic_val2017.json',
        seg_prefix=data_root + 'annotations/panoptic_val2017/',
        backend_args=backend_args),
    dict(
        type=CocoMetric,
        ann_file=data_root + 'annotations/instances_val2017.json',
        metric=['bbox', 'segm'],
        backend_args=backend_args),
]
test_evaluator = val_evaluator

custom_hooks = [
    dict(type=CompatFixesHook),  # the fixes of mmdet_centermask.compat this stack needs
    dict(type=PanopticClassCheckHook),  # thing and stuff classes of the dataset vs the heads
    dict(type=FiniteLossHook),
    dict(type=RNGStateHook),
    dict(type=EvalProgressBarHook),
]
