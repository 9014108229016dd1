"""PanopticCenterMask on the real COCO panoptic images with their official annotations (a training
step through the panoptic data pipeline, a prediction), its config checks, and the class check of
panoptic datasets against the heads (PanopticClassCheckHook)."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmdet_centermask.testing import assert_panoptic_matches_instances, load_config
from mmengine.dataset import pseudo_collate

from mmdet.registry import DATASETS, HOOKS, MODELS

SAMPLE = Path(__file__).resolve().parents[4] / 'shared' / 'data' / 'coco_panoptic_sample'
CONFIG = 'panoptic_centermask/demo/panoptic-centermask-lite_v2-19-slim-dw_fpn_demo.py'


def coco_classes_cfg():
    """The Lite demo model (cheap on CPU) with COCO's 80 thing and 53 stuff classes."""
    cfg = load_config(CONFIG)
    cfg.model.bbox_head.num_classes = 80
    cfg.model.roi_head.mask_head.num_classes = 80
    cfg.model.roi_head.mask_iou_head.num_classes = 80
    cfg.model.semantic_head.update(num_things_classes=80, num_stuff_classes=53)
    return cfg


@pytest.mark.slow  # a whole zoo model in-process
@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f'the real COCO panoptic sample is not at {SAMPLE}')
def test_trains_and_predicts_on_real_coco_panoptic_images():
    cfg = coco_classes_cfg()
    dataset = DATASETS.build(dict(
        type='CheckedCocoPanopticDataset',
        data_root=str(SAMPLE / 'sample_data'),
        ann_file='panoptic_examples.json',
        data_prefix=dict(img='input_images/', seg='panoptic_examples/'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='CheckedLoadPanopticAnnotations'),
            dict(type='Resize', scale=(480, 320), keep_ratio=True),
            dict(type='PackDetInputs'),
        ]))
    batch = pseudo_collate([dataset[0], dataset[1]])
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    assert set(losses) >= {'loss_cls', 'loss_bbox', 'loss_centerness', 'loss_mask',
                           'loss_mask_iou', 'loss_seg'}
    for key, value in losses.items():
        assert torch.isfinite(value), key
    assert losses['loss_seg'] > 0
    sum(losses.values()).backward()
    assert model.semantic_head.conv_logits.weight.grad.abs().sum() > 0

    model.eval()
    torch.nn.init.constant_(model.bbox_head.conv_cls.bias, 0.0)  # let the untrained head detect
    model.panoptic_fusion_head.test_cfg.instance_score_thr = 0.3
    with torch.no_grad():
        results = model(**model.data_preprocessor(batch, False), mode='predict')
    for result, (h, w) in zip(results, [(427, 640), (360, 640)]):
        assert result.pred_panoptic_seg.sem_seg.shape[1:] == result.ori_shape == (h, w)
        assert result.pred_instances.masks.shape[1:] == (h, w)
        assert_panoptic_matches_instances(result, cfg.model.semantic_head, score_thr=0.3)


def test_tensor_mode_gives_the_raw_outputs_with_the_semantic_logits():
    model = MODELS.build(load_config(CONFIG).model).eval()
    with torch.no_grad():
        fcos_outs, mask_outs, seg_preds = model(torch.randn(1, 3, 128, 160), mode='tensor')
    assert [c.shape[-2:] for c in fcos_outs[0]] == [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2)]
    assert mask_outs == () and seg_preds.shape == (1, 4, 32, 40)  # 3 stuff + things, stride 4


@pytest.mark.parametrize('change, message', [
    (dict(semantic_head=dict(num_things_classes=79)),
     r'semantic_head.num_things_classes=79 but bbox_head.num_classes=80'),
    (dict(semantic_head=dict(in_channels=256)),
     r'semantic_head.in_channels=256 but neck.out_channels=128'),
    (dict(neck=dict(num_outs=5)),
     r'the FPN outputs strides \[4, 8, 16, 32, 64\].*must be bbox_head.strides'),
    (dict(test_cfg=dict(panoptic=None)), r'needs test_cfg.panoptic'),
    (dict(test_cfg=dict(rcnn=dict(mask_thr_binary=0.5, mask_format='rle'))),
     r"fuses the instance masks as bitmaps: test_cfg.rcnn.mask_format='rle' is for CenterMask"),
])
def test_config_parts_that_do_not_fit_are_named(change, message):
    cfg = coco_classes_cfg()
    for key, value in change.items():
        if value.get('panoptic', 1) is None:
            cfg.model.test_cfg.pop('panoptic')
        else:
            cfg.model[key].update(value)
    with pytest.raises(ValueError, match=message):
        MODELS.build(cfg.model)


def run_class_check(model, thing_classes, stuff_classes):
    meta = dict(thing_classes=thing_classes, stuff_classes=stuff_classes,
                classes=thing_classes + stuff_classes)
    runner = SimpleNamespace(
        model=model, train_dataloader=SimpleNamespace(dataset=SimpleNamespace(metainfo=meta)))
    HOOKS.build(dict(type='PanopticClassCheckHook')).before_train_epoch(runner)


def test_class_check_hook_names_every_head_that_disagrees():
    model = MODELS.build(load_config(CONFIG).model)
    things, stuff = load_config(CONFIG).thing_classes, load_config(CONFIG).stuff_classes
    run_class_check(model, things, stuff)  # the demo's own classes pass
    with pytest.raises(ValueError, match=r'5 thing_classes and 4 stuff_classes, but '
                                         r'semantic_head \(SemSegFPNHead\) has num_things_classes'
                                         r'=5, num_stuff_classes=3; panoptic_fusion_head'):
        run_class_check(model, things, stuff + ('water', ))
    with pytest.raises(ValueError, match=r'bbox_head \(CenterMaskFCOSHead\) has num_classes=5'):
        run_class_check(model, things[:4], stuff)
