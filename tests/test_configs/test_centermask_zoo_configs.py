"""Every CenterMask zoo config: carries the SPEC section 3 recipe, builds, trains one step on CPU
(finite losses, a gradient for every trainable parameter) and predicts on a synthetic batch."""

import pytest
from mmdet_centermask.testing import CONFIG_DIR, load_config, train_step_and_predict

from mmdet.registry import MODELS

ZOO = sorted(p.name for p in (CONFIG_DIR / 'centermask').glob('*.py'))
DEMO = sorted(f'demo/{p.name}' for p in (CONFIG_DIR / 'centermask' / 'demo').glob('*.py'))
SCHEDULES = {  # max iterations and lr steps at 16 images per iteration
    '1x': (90000, [60000, 80000]),
    '3x': (270000, [210000, 250000]),
    '4x': (360000, [300000, 340000]),
}
CENTERMASK_SCALES = [(1333, s) for s in range(640, 801, 32)]
LITE_SCALES = [(1000, 580), (1000, 600)]


def _pipeline_scales(pipeline):
    for step in pipeline:
        if step['type'] == 'RandomChoiceResize':
            return [tuple(s) for s in step['scales']]
        if step['type'] == 'Resize':
            return [tuple(step['scale'])]
    raise AssertionError('no resize step')


@pytest.mark.parametrize('name', ZOO)
def test_recipe(name):
    cfg = load_config(f'centermask/{name}', without_pretrained=False)
    lite = name.startswith('centermask-lite')
    schedule = name.rsplit('_', 2)[-2].split('-')[-1]
    assert (cfg.train_cfg.max_iters, cfg.param_scheduler[1].milestones) == SCHEDULES[schedule]
    assert cfg.param_scheduler[0] == dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1001
    )
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 16
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (
        'SGD',
        0.01,
        0.9,
        0.0001,
    )
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0
    assert cfg.custom_imports == dict(
        imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)
    train_scales = _pipeline_scales(cfg.train_dataloader.dataset.pipeline)
    test_scales = _pipeline_scales(cfg.test_dataloader.dataset.pipeline)
    if lite:
        assert train_scales == LITE_SCALES and test_scales == [(1000, 600)]
    else:  # 1x too: centermask2's base recipe trains multi-scale
        assert train_scales == CENTERMASK_SCALES and test_scales == [(1333, 800)]
    # what reproduces centermask2 exactly (configs/centermask/README.md)
    assert cfg.train_dataloader.dataset.pipeline[1]['type'] == 'LoadPolygonAnnotations'
    assert cfg.model.bbox_head.bbox_coder == dict(type='DistancePointBBoxCoder',
                                                  clip_border=False)
    assert cfg.model.bbox_head.loss_bbox.type == 'SmoothedGIoULoss'
    assert cfg.model.roi_head.mask_iou_head.type == 'CenterMaskIoUHead'
    assert cfg.model.train_cfg.bbox.min_bbox_size == cfg.model.test_cfg.bbox.min_bbox_size == -1
    assert cfg.model.test_cfg.rcnn.paste_masks_into == 'clipped_boxes'
    assert cfg.model.neck.init_cfg.type == 'Kaiming' and cfg.model.neck.init_cfg.a == 1
    model = cfg.model
    channels, convs = (128, 2) if lite else (256, 4)
    assert model.neck.out_channels == model.bbox_head.in_channels == channels
    assert model.bbox_head.stacked_convs == convs
    assert model.roi_head.mask_head.num_convs == model.roi_head.mask_iou_head.num_convs == convs
    assert model.data_preprocessor.mean == [103.53, 116.28, 123.675]
    # BGR; std 1 for detectron2's own ImageNet backbones, the C2 model's std for X-101
    x101 = name.startswith('centermask_x101')
    assert model.data_preprocessor.std == ([57.375, 57.120, 58.395] if x101 else [1.0, 1.0, 1.0])
    assert not model.data_preprocessor.bgr_to_rgb
    assert cfg.tta_model.type == 'CenterMaskTTAModel'
    assert model.test_cfg.bbox.max_per_img == 50 and model.train_cfg.bbox.max_per_img == 100
    assert model.backbone.norm_cfg.requires_grad is False and model.backbone.norm_eval is True
    if 'dcn' in name:
        assert model.backbone.stage_with_dcn == (False, True, True, True)


# A training step builds and runs the model only: a config whose model equals another's (it
# differs in schedule or data alone) trains the same network as that one
# (test_configs_that_share_a_model_share_it_exactly checks that they are equal)
SAME_MODEL_AS = {
    'centermask_r50_fpn_ms-3x_coco.py': 'centermask_r50_fpn_1x_coco.py',
    'centermask_v2-39_fpn_ms-3x_coco.py': 'centermask_v2-39_fpn_1x_coco.py',
}
# The deeper DCN models are V2-57 / V2-99 (trained here) with the deformable stages of V2-39-DCN
# (trained here): their training steps would add 37 s and cover nothing new; they are built and
# compared layer by layer with their pure-Python twins (test_pure_python_configs.py).
TRAINED = [name for name in ZOO if name not in SAME_MODEL_AS and name not in (
    'centermask_v2-57-dcn_fpn_ms-3x_coco.py', 'centermask_v2-99-dcn_fpn_ms-3x_coco.py')]


@pytest.mark.parametrize('name', list(SAME_MODEL_AS))
def test_configs_that_share_a_model_share_it_exactly(name):
    """What the training step of the other config proves holds for this one."""
    assert load_config(f'centermask/{name}').model == load_config(
        f'centermask/{SAME_MODEL_AS[name]}').model


@pytest.mark.slow
@pytest.mark.parametrize('name', TRAINED + DEMO)
def test_trains_and_predicts(name):
    results = train_step_and_predict(load_config(f'centermask/{name}'))
    pred = results[0].pred_instances
    assert 0 < len(pred) <= 50
    assert pred.masks.shape[1:] == results[0].ori_shape == (512, 704)


@pytest.mark.parametrize(
    'demo, zoo',
    [
        (
            'centermask-lite_v2-19-slim-dw_fpn_demo.py',
            'centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py',
        ),
        ('centermask_v2-39_fpn_demo.py', 'centermask_v2-39_fpn_ms-3x_coco.py'),
    ],
)
def test_demo_model_is_its_zoo_model_with_the_demo_classes(demo, zoo):
    """A demo config changes data, classes, input size and schedule, not the architecture: its model
    has the zoo model's parameters, shape for shape, once the zoo model gets the demo's classes."""
    demo_cfg = load_config(f'centermask/demo/{demo}')
    zoo_cfg = load_config(f'centermask/{zoo}')
    num_classes = len(demo_cfg.metainfo['classes'])
    zoo_cfg.model.bbox_head.num_classes = num_classes
    zoo_cfg.model.roi_head.mask_head.num_classes = num_classes
    zoo_cfg.model.roi_head.mask_iou_head.num_classes = num_classes
    shapes = [
        {name: tuple(value.shape) for name, value in MODELS.build(cfg.model).state_dict().items()}
        for cfg in (demo_cfg, zoo_cfg)
    ]
    assert shapes[0] == shapes[1]
    assert demo_cfg.model.test_cfg == zoo_cfg.model.test_cfg
    assert demo_cfg.model.train_cfg == zoo_cfg.model.train_cfg
