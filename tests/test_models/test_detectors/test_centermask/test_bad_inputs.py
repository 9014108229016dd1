"""Bad model inputs and configs of CenterMask: degenerate and out-of-image ground-truth boxes,
channels or levels that do not fit together, an unknown backbone arch and ``num_classes`` that
disagrees with the dataset (mmdet's ``NumClassCheckHook``). The README's troubleshooting table
refers to these tests by name."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmdet_centermask.testing import load_config, make_batch
from mmengine.config import ConfigDict
from mmengine.runner import Runner
from mmengine.structures import InstanceData

from mmdet.engine.hooks import NumClassCheckHook
from mmdet.registry import MODELS
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmdet_centermask.models.detectors.centermask import backbone_out_channels
from mmdet_centermask.models.roi_heads.centermask_roi_head import covers_image_area

NUM_CLASSES = 4
IMG_H, IMG_W = 96, 128


def small_model_cfg(num_classes: int = NUM_CLASSES) -> ConfigDict:
    """The R-50 zoo model with a trainable ResNet-18, a 64-channel FPN and slim heads."""
    cfg = load_config('centermask/centermask_r50_fpn_1x_coco.py').model
    cfg.backbone.update(depth=18, style='pytorch', norm_cfg=dict(type='BN', requires_grad=True),
                        norm_eval=False, frozen_stages=-1)
    cfg.neck.update(in_channels=[128, 256, 512], out_channels=64)
    # COCO's regress ranges / 4, so that small test images reach every FCOS level
    cfg.bbox_head.update(num_classes=num_classes, in_channels=64, feat_channels=64, stacked_convs=2,
                         regress_ranges=((-1, 16), (16, 32), (32, 64), (64, 128), (128, 1e8)))
    cfg.roi_head.mask_roi_extractor.out_channels = 64
    cfg.roi_head.mask_head.update(num_classes=num_classes, num_convs=2, in_channels=64,
                                  conv_out_channels=64)
    cfg.roi_head.mask_iou_head.update(num_classes=num_classes, num_convs=2, in_channels=64,
                                      conv_out_channels=64, fc_out_channels=256)
    return cfg


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    model = MODELS.build(small_model_cfg())
    model.init_weights()
    return model.train()


# (x1, y1, x2, y2) in a 128 x 96 image
BOXES_WITHOUT_IMAGE_AREA = {
    'zero_width': [30, 30, 30, 60],
    'point': [30, 30, 30, 30],
    'zero_width_on_the_right_border': [128, 30, 128, 60],  # what clipping an outside box gives
    'beyond_the_right_bottom_corner': [140, 100, 200, 150],
    'beyond_the_left_top_corner': [-80, -60, -10, -5],
}
PARTLY_OUTSIDE_BOX = [-20, -10, 60, 50]


def batch_with_box(box, mask_type: str, with_valid_boxes: bool) -> dict:
    """One 128 x 96 image whose ground truth is ``box`` (mask: the box's rectangle), after two
    valid instances when ``with_valid_boxes``."""
    batch = make_batch([(IMG_H, IMG_W)], [2], num_classes=NUM_CLASSES, mask_type=mask_type)
    sample = batch['data_samples'][0]
    x1, y1, x2, y2 = box
    rectangle = PolygonMasks([[np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float64)]],
                             IMG_H, IMG_W)
    masks = rectangle if mask_type == 'polygon' else BitmapMasks(rectangle.to_ndarray(),
                                                                 IMG_H, IMG_W)
    gt = InstanceData(bboxes=torch.tensor([box], dtype=torch.float32), labels=torch.tensor([1]),
                      masks=masks)
    if with_valid_boxes:
        gt = InstanceData.cat([sample.gt_instances, gt])
    sample.gt_instances = gt
    return batch


def train_losses(model, batch: dict) -> dict:
    torch.manual_seed(0)  # the RoI sampler is random
    model.zero_grad()
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    sum(losses.values()).backward()
    return losses


def test_covers_image_area():
    boxes = torch.tensor([[0, 0, 10, 10], [-5, -5, 1, 1], *BOXES_WITHOUT_IMAGE_AREA.values()],
                         dtype=torch.float32)
    assert covers_image_area(boxes, (IMG_H, IMG_W)).tolist() == [True, True] + [False] * 5


@pytest.mark.parametrize('mask_type', ['polygon', 'bitmap'])
@pytest.mark.parametrize('case', list(BOXES_WITHOUT_IMAGE_AREA))
def test_zero_area_and_out_of_image_boxes_train_with_finite_losses(model, case, mask_type):
    """Beside valid instances, or alone: finite losses, and nothing to learn from the box (no FCOS
    point inside it, left out of the mask branch). Before, a bitmap-mask box beyond the right or
    bottom border crashed with an IndexError in mmdet's MaskIoUHead (BitmapMasks.crop)."""
    box = BOXES_WITHOUT_IMAGE_AREA[case]
    losses = train_losses(model, batch_with_box(box, mask_type, with_valid_boxes=True))
    assert all(torch.isfinite(value) for value in losses.values())
    assert losses['loss_mask'] > 0  # from the valid instances
    losses = train_losses(model, batch_with_box(box, mask_type, with_valid_boxes=False))
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0
    for name in ('loss_bbox', 'loss_centerness', 'loss_mask', 'loss_mask_iou'):
        assert losses[name] == 0, name


@pytest.mark.parametrize('mask_type', ['polygon', 'bitmap'])
def test_partly_outside_box_trains_as_its_part_in_the_image(model, mask_type):
    losses = train_losses(model, batch_with_box(PARTLY_OUTSIDE_BOX, mask_type, False))
    for name, value in losses.items():
        assert torch.isfinite(value) and value > 0, name


@pytest.mark.parametrize('key, value, message', [
    ('neck.out_channels', 128, 'bbox_head.in_channels=64 but neck.out_channels=128'),
    ('bbox_head.in_channels', 128, 'bbox_head.in_channels=128 but neck.out_channels=64'),
    ('roi_head.mask_roi_extractor.out_channels', 128,
     'roi_head.mask_roi_extractor.out_channels=128 but neck.out_channels=64'),
    ('roi_head.mask_head.in_channels', 128,
     'roi_head.mask_head.in_channels=128 but neck.out_channels=64'),
    ('roi_head.mask_iou_head.in_channels', 128,
     'roi_head.mask_iou_head.in_channels=128 but neck.out_channels=64'),
    ('neck.num_outs', 4, r'neck.num_outs=4 but bbox_head.strides=\[8, 16, 32, 64, 128\] has 5'),
])
def test_fpn_channels_or_levels_that_do_not_match_the_heads_are_a_clear_error(key, value, message):
    """Before: a RuntimeError from a convolution in the first forward ("expected input[1, 64, ...]
    to have 128 channels"), or an AssertionError without message in mmdet's point generator."""
    cfg = small_model_cfg()
    *parents, name = key.split('.')
    target = cfg
    for part in parents:
        target = target[part]
    target[name] = value
    with pytest.raises(ValueError, match=message):
        MODELS.build(cfg)


@pytest.mark.parametrize('config, neck_in_channels, message', [
    ('centermask/centermask-lite_v2-19-slim_fpn_ms-4x_coco.py', [512, 768, 1024],
     r'neck.in_channels=\[512, 768, 1024\] but the backbone \(VoVNet, out_indices=\(1, 2, 3\)\) '
     r'outputs \[256, 384, 512\]'),
    ('centermask/centermask_r50_fpn_1x_coco.py', [256, 512, 1024],
     r'neck.in_channels=\[256, 512, 1024\] but the backbone \(ResNet, out_indices=\(1, 2, 3\)\) '
     r'outputs \[512, 1024, 2048\]'),
])
def test_backbone_channels_that_do_not_match_the_neck_are_a_clear_error(config, neck_in_channels,
                                                                         message):
    cfg = load_config(config)
    cfg.model.neck.in_channels = neck_in_channels
    with pytest.raises(ValueError, match=message):
        MODELS.build(cfg.model)


@pytest.mark.parametrize('backbone', [
    dict(type='VoVNet', arch='V-19-slim-dw'),
    dict(type='VoVNet', arch='V-39', out_indices=(1, 3)),
    dict(type='ResNet', depth=18, out_indices=(1, 2, 3)),
    dict(type='ResNet', depth=50, out_indices=(0, 3)),
    dict(type='ResNeXt', depth=50, groups=32, base_width=4, out_indices=(2, )),
])
def test_backbone_out_channels_are_those_of_its_outputs(backbone):
    module = MODELS.build(backbone)
    module.eval()  # mmdet's ResNet.train returns None
    with torch.no_grad():
        outputs = module(torch.rand(1, 3, 64, 64))
    assert backbone_out_channels(module) == [out.shape[1] for out in outputs]


def test_backbone_out_channels_are_unknown_for_other_backbones():
    module = MODELS.build(dict(type='RegNet', arch='regnetx_400mf'))
    assert backbone_out_channels(module) is None


def test_unknown_backbone_arch_is_a_clear_error():
    cfg = load_config('centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py')
    cfg.model.backbone.arch = 'V-42'
    with pytest.raises(ValueError, match=r"Unknown VoVNet arch 'V-42', valid ones are \[.*"
                                         r"'V-19-slim-dw'.*'V-99'\]"):
        MODELS.build(cfg.model)


def stub_runner(model, num_dataset_classes: int) -> SimpleNamespace:
    """What NumClassCheckHook reads of a runner: the model and the datasets' classes."""
    dataset = SimpleNamespace(metainfo=dict(
        classes=tuple(f'class{i}' for i in range(num_dataset_classes))))
    loader = SimpleNamespace(dataset=dataset)
    return SimpleNamespace(model=model, train_dataloader=loader, val_dataloader=loader,
                           logger=None)


@pytest.mark.parametrize('num_model_classes', [80, 3])
def test_num_class_check_hook_catches_num_classes_that_disagree_with_the_dataset(
        num_model_classes):
    model = MODELS.build(small_model_cfg(num_model_classes))
    hook = NumClassCheckHook()
    for check in (hook.before_train_epoch, hook.before_val_epoch):
        with pytest.raises(AssertionError, match=rf'`num_classes` \({num_model_classes}\) in '
                                                 r'CenterMaskFCOSHead .* `classes` 5'):
            check(stub_runner(model, 5))
    hook.before_train_epoch(stub_runner(model, num_model_classes))


@pytest.mark.parametrize('head', ['bbox_head', 'roi_head.mask_head', 'roi_head.mask_iou_head'])
def test_num_class_check_hook_checks_each_of_the_three_heads(model, head):
    module = model.get_submodule(head)
    hook = NumClassCheckHook()
    hook.before_train_epoch(stub_runner(model, NUM_CLASSES))
    module.num_classes = NUM_CLASSES + 1
    try:
        with pytest.raises(AssertionError, match=type(module).__name__):
            hook.before_train_epoch(stub_runner(model, NUM_CLASSES))
    finally:
        module.num_classes = NUM_CLASSES


def test_num_class_check_hook_stops_a_runner_before_the_first_iteration(tmp_path: Path):
    """A real Runner: an 80-class model on a 5-class dataset fails at the start of training."""
    classes = tuple(f'class{i}' for i in range(5))
    (tmp_path / 'instances.json').write_text(json.dumps(dict(
        images=[dict(id=1, file_name='none.jpg', width=64, height=64)],
        annotations=[dict(id=1, image_id=1, category_id=1, bbox=[8, 8, 32, 32], area=1024,
                          iscrowd=0, segmentation=[[8, 8, 40, 8, 40, 40, 8, 40]])],
        categories=[dict(id=i + 1, name=name) for i, name in enumerate(classes)])))
    runner = Runner(
        model=small_model_cfg(80),
        work_dir=str(tmp_path / 'work_dir'),
        train_dataloader=dict(
            batch_size=1, num_workers=0, sampler=dict(type='InfiniteSampler'),
            dataset=dict(type='CocoDataset', data_root=str(tmp_path),
                         ann_file='instances.json', data_prefix=dict(img=''),
                         metainfo=dict(classes=classes),
                         pipeline=[dict(type='LoadImageFromFile')])),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=[dict(type='NumClassCheckHook')],
        default_scope='mmdet')
    with pytest.raises(AssertionError, match=r'`num_classes` \(80\) .* `classes` 5'):
        runner.train()
    assert runner.iter == 0
