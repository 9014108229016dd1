"""Every Panoptic-CenterMask config: carries centermask2's panoptic recipe, builds, trains one step
on CPU (finite losses, the semantic one among them, a gradient for every trainable parameter) and
predicts a panoptic map whose thing segments are laid instances of ``pred_instances``."""

import pytest
from mmdet_centermask.testing import (CONFIG_DIR, assert_panoptic_matches_instances, load_config,
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
    # centermask2's panoptic_separated: polygon instances, the semantic map from the PNGs
    assert train_pipeline[:2] == instance.train_dataloader.dataset.pipeline[:2]
    assert (train_pipeline[2].type, train_pipeline[2].with_seg, train_pipeline[2].with_mask) == (
        'CheckedLoadPanopticAnnotations', True, False)
    assert train_pipeline[3] == instance.train_dataloader.dataset.pipeline[2]  # 640..800 x 1333
    assert cfg.train_dataloader.dataset.type == 'CocoPanopticSeparatedDataset'
    assert cfg.val_dataloader.dataset.type == 'CheckedCocoPanopticDataset'
    assert [e.type for e in cfg.val_evaluator] == ['CocoPanopticMetric', 'CocoMetric']
    assert cfg.custom_hooks[0].type == 'PanopticClassCheckHook'
    if name.startswith('panoptic-centermask_x101'):
        assert model.backbone.type == 'ResNeXt' and model.backbone.style == 'pytorch'
        assert model.data_preprocessor.std == [57.375, 57.120, 58.395]


# A panoptic model is a zoo backbone with out_indices from stage 2, an FPN from P2, CenterMask's
# heads and the semantic head. One of each backbone family trains a step (ResNet: R-50, VoVNet:
# V2-39, and the Lite demo); the deeper ones are checked to be those models with another backbone,
# and that backbone (depth, arch, groups) trains a step in test_centermask_zoo_configs.py.
TRAINED = ['panoptic-centermask_r50_fpn_ms-3x_coco.py', 'panoptic-centermask_v2-39_fpn_ms-3x_coco.py']
FAMILY = {'r101': 'r50', 'x101-32x8d': 'r50', 'v2-57': 'v2-39', 'v2-99': 'v2-39'}


@pytest.mark.parametrize('backbone', list(FAMILY))
def test_a_deeper_panoptic_model_is_a_trained_one_with_a_trained_backbone(backbone):
    def panoptic(name: str) -> dict:
        return load_config(f'panoptic_centermask/panoptic-centermask_{name}_fpn_ms-3x_coco.py'
                           ).model.to_dict()

    model, family = panoptic(backbone), panoptic(FAMILY[backbone])
    instance = load_config(f'centermask/centermask_{backbone}_fpn_ms-3x_coco.py').model.backbone
    assert model['backbone'] == dict(instance.to_dict(), out_indices=(0, 1, 2, 3))
    # the other parts but the FPN's input channels; X-101's normalisation: test_recipe
    for parts in (model, family):
        parts.pop('backbone'), parts['neck'].pop('in_channels'), parts.pop('data_preprocessor')
    assert model == family


@pytest.mark.slow
@pytest.mark.parametrize('name', TRAINED + DEMO)
def test_trains_and_predicts_a_consistent_panoptic_map(name):
    cfg = load_config(f'panoptic_centermask/{name}')
    cfg.model.test_cfg.panoptic.instance_score_thr = 0.3  # the untrained model scores ~0.5
    result = train_step_and_predict(cfg)[0]
    assert result.pred_panoptic_seg.sem_seg.shape[1:] == result.ori_shape == (512, 704)
    assert_panoptic_matches_instances(result, cfg.model.semantic_head, score_thr=0.3)


def test_readme_and_metafile_hold_the_published_numbers_of_every_config():
    import re

    import yaml

    zoo_dir = CONFIG_DIR / 'panoptic_centermask'
    readme = (zoo_dir / 'README.md').read_text()
    metafile = yaml.safe_load((zoo_dir / 'metafile.yml').read_text())
    assert sorted(set(re.findall(r'\]\(\./([^)]+\.py)\)', readme))) == ZOO
    assert sorted(m['Config'] for m in metafile['Models']) == [
        f'configs/panoptic_centermask/{name}' for name in ZOO]
    for model in metafile['Models']:
        assert (CONFIG_DIR.parent / model['Config']).is_file()
        row, = [line for line in readme.splitlines()
                if line.startswith('|') and f"](./{model['Name']}.py)" in line]
        cells = [cell.strip() for cell in row.strip('|').split('|')]
        metrics = {k: v for r in model.get('Results', []) for k, v in r['Metrics'].items()}
        # Backbone | Lr schd | Mem | Inf time | box AP | mask AP | PQ | PQ (ours)
        assert cells[4:7] == [f'{metrics[k]:.1f}' if k in metrics else '-'
                              for k in ('box AP', 'mask AP', 'PQ')]
        times = model['Metadata'].get('inference time (ms/im)')
        assert cells[3] == (f"{times[0]['value'] / 1000:.3f}" if times else '-')
    published = {row[0]: row[1:] for row in (  # centermask2's README, box and mask AP unswapped
        ('R-50-FPN', '41.4', '37.3', '42.0'), ('V2-39-FPN', '43.4', '39.0', '43.7'),
        ('R-101-FPN', '43.5', '39.0', '43.6'), ('V2-57-FPN', '43.9', '39.6', '44.5'),
        ('V2-99-FPN', '45.1', '40.6', '45.4'))}
    for backbone, numbers in published.items():
        row, = [line for line in readme.splitlines() if line.startswith(f'| {backbone} |')]
        assert [c.strip() for c in row.strip('|').split('|')][4:7] == list(numbers)
