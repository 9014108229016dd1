"""Every Panoptic-CenterMask config: carries centermask2's panoptic recipe, builds, trains one step
on CPU (finite losses, the semantic one among them, a gradient for every trainable parameter) and
predicts a panoptic map whose thing segments are laid instances of ``pred_instances``."""

import pytest
from helpers import (CONFIG_DIR, assert_panoptic_matches_instances, load_config,
                     train_step_and_predict)

ZOO = sorted(p.name for p in (CONFIG_DIR / 'panoptic_centermask').glob('*.py'))
DEMO = sorted(f'demo/{p.name}' for p in (CONFIG_DIR / 'panoptic_centermask' / 'demo').glob('*.py'))
BACKBONE_CHANNELS = {
    'r50': [256, 512, 1024, 2048], 'r101': [256, 512, 1024, 2048],
    'x101-32x8d': [256, 512, 1024, 2048], 'v2-39': [256, 512, 768, 1024],
    'v2-57': [256, 512, 768, 1024], 'v2-99': [256, 512, 768, 1024],
}


def test_the_zoo_has_centermask2s_six_panoptic_models():
    assert [name.split('_')[1] for name in ZOO] == sorted(BACKBONE_CHANNELS)


@pytest.mark.parametrize('name', ZOO)
def test_recipe(name):
    cfg = load_config(f'panoptic_centermask/{name}', without_pretrained=False)
    instance = load_config('centermask/centermask_r50_fpn_ms-3x_coco.py')
    model = cfg.model
    assert model.type == 'PanopticCenterMask'
    assert model.backbone.out_indices == (0, 1, 2, 3)
    assert model.neck.in_channels == BACKBONE_CHANNELS[name.split('_')[1]]
    assert model.neck.num_outs == 6 and model.bbox_head.strides == [8, 16, 32, 64, 128]
    semantic = model.semantic_head
    assert (semantic.type, semantic.num_things_classes, semantic.num_stuff_classes,
            semantic.inner_channels, semantic.start_level, semantic.end_level) == (
                'SemSegFPNHead', 80, 53, 128, 0, 4)
    assert semantic.norm_cfg.type == 'GN' and semantic.loss_seg.loss_weight == 0.5
    assert semantic.loss_seg.ignore_index == 255 and semantic.loss_seg.avg_non_ignore
    assert model.test_cfg.panoptic == dict(instance_score_thr=0.5, mask_overlap=0.5,
                                           stuff_area_limit=4096)
    assert model.data_preprocessor.pad_seg and model.data_preprocessor.seg_pad_value == 255
    # CenterMask's heads, schedule and data recipe are the instance model's
    for key in ('bbox_head', 'roi_head', 'train_cfg'):
        assert model[key] == instance.model[key], key
    assert model.test_cfg.bbox == instance.model.test_cfg.bbox
    assert cfg.param_scheduler == instance.param_scheduler
    assert cfg.train_cfg.max_iters == 270000
    train_pipeline = cfg.train_dataloader.dataset.pipeline
    assert train_pipeline[1].type == 'CheckedLoadPanopticAnnotations'
    assert train_pipeline[2] == instance.train_dataloader.dataset.pipeline[2]  # 640..800 x 1333
    assert cfg.train_dataloader.dataset.type == 'CheckedCocoPanopticDataset'
    assert [e.type for e in cfg.val_evaluator] == ['CocoPanopticMetric', 'CocoMetric']
    assert cfg.custom_hooks[0].type == 'PanopticClassCheckHook'
    if name.startswith('panoptic-centermask_x101'):
        assert model.backbone.type == 'ResNeXt' and model.backbone.style == 'pytorch'
        assert model.data_preprocessor.std == [57.375, 57.120, 58.395]


@pytest.mark.parametrize('name', ZOO + DEMO)
def test_trains_and_predicts_a_consistent_panoptic_map(name):
    cfg = load_config(f'panoptic_centermask/{name}')
    cfg.model.test_cfg.panoptic.instance_score_thr = 0.3  # the untrained model scores ~0.5
    result = train_step_and_predict(cfg)[0]
    assert result.pred_panoptic_seg.sem_seg.shape[1:] == result.ori_shape == (512, 704)
    assert_panoptic_matches_instances(result, cfg.model.semantic_head, score_thr=0.3)
