# mmdet's classic `_base_/datasets/coco_detection.py` (mmdet 3.3.0) in the pure-Python style.
from mmcv.transforms import LoadImageFromFile
from mmdet.datasets import AspectRatioBatchSampler, CocoDataset
from mmdet.datasets.transforms import LoadAnnotations, PackDetInputs, RandomFlip, Resize
from mmdet.evaluation import CocoMetric
from mmengine.dataset.sampler import DefaultSampler

dataset_type = CocoDataset
data_root = 'data/coco/'
backend_args = None
train_pipeline = [
    dict(type=LoadImageFromFile, backend_args=None),
    dict(type=LoadAnnotations, with_bbox=True),
    dict(type=Resize, scale=(1333, 800), keep_ratio=True),
    dict(type=RandomFlip, prob=0.5),
    dict(type=PackDetInputs)]
test_pipeline = [
    dict(type=LoadImageFromFile, backend_args=None),
    dict(type=Resize, scale=(1333, 800), keep_ratio=True),
    dict(type=LoadAnnotations, with_bbox=True),
    dict(
        type=PackDetInputs,
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    batch_sampler=dict(type=AspectRatioBatchSampler),
    dataset=dict(
        type=CocoDataset,
        data_root='data/coco/',
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=[
            dict(type=LoadImageFromFile, backend_args=None),
            dict(type=LoadAnnotations, with_bbox=True),
            dict(type=Resize, scale=(1333, 800), keep_ratio=True),
            dict(type=RandomFlip, prob=0.5),
            dict(type=PackDetInputs)],
        backend_args=None))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(
        type=CocoDataset,
        data_root='data/coco/',
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=[
            dict(type=LoadImageFromFile, backend_args=None),
            dict(type=Resize, scale=(1333, 800), keep_ratio=True),
            dict(type=LoadAnnotations, with_bbox=True),
            dict(
                type=PackDetInputs,
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))],
        backend_args=None))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(
        type=CocoDataset,
        data_root='data/coco/',
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=[
            dict(type=LoadImageFromFile, backend_args=None),
            dict(type=Resize, scale=(1333, 800), keep_ratio=True),
            dict(type=LoadAnnotations, with_bbox=True),
            dict(
                type=PackDetInputs,
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))],
        backend_args=None))
val_evaluator = dict(
    type=CocoMetric,
    ann_file='data/coco/annotations/instances_val2017.json',
    metric='bbox',
    format_only=False,
    backend_args=None)
test_evaluator = dict(
    type=CocoMetric,
    ann_file='data/coco/annotations/instances_val2017.json',
    metric='bbox',
    format_only=False,
    backend_args=None)
