"""The pure-Python configs in ``mmdet_centermask/configs`` against their classic twins.

Each pair must describe the same run: every top-level setting of the classic config (model with
its train_cfg/test_cfg and data preprocessor, dataloaders with their pipelines, samplers and batch
sizes, evaluators, optimizer wrapper and paramwise_cfg, param schedulers, loops, hooks, runtime,
auto_scale_lr) is compared after types are resolved to the objects they name (``'BN'`` and
``BatchNorm2d``, ``'Pretrained'`` and ``PretrainedInit`` are the same), and both models are built
and compared module by module. The pure-Python side is built without a default registry scope,
as the Runner does for it (``default_scope = None``). One pure config then trains for two
iterations under ``tools/train.py`` on a tiny COCO-format dataset.
"""
import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List

import cv2
import mmcv.ops
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.config.lazy import LazyAttr, LazyObject
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from mmdet import registry as mmdet_registry
from mmdet.datasets.transforms import Resize as MmdetResize
from mmdet.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
CLASSIC_DIR = ROOT / 'configs' / 'centermask'
PURE_DIR = ROOT / 'mmdet_centermask' / 'configs' / 'centermask'
# classic config -> its pure-Python twin (module names cannot contain '-')
PAIRS = {
    'centermask_r50_fpn_1x_coco.py': 'centermask_r50_fpn_1x_coco.py',
    'centermask_v2-39_fpn_ms-3x_coco.py': 'centermask_v2_39_fpn_ms_3x_coco.py',
    'centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py':
    'centermask_lite_v2_19_slim_dw_fpn_ms_4x_coco.py',
}
# what may differ: the pure configs need no scope and no custom_imports (they import the classes)
CLASSIC_ONLY_KEYS = {'custom_imports', 'default_scope'}
# where strings are registry names; the first registry that knows a name resolves it
TYPE_KEYS = {'type', 'resize_type', 'dataset_type'}
REGISTRIES = [
    mmdet_registry.MODELS, mmdet_registry.TASK_UTILS, mmdet_registry.TRANSFORMS,
    mmdet_registry.DATASETS, mmdet_registry.DATA_SAMPLERS, mmdet_registry.METRICS,
    mmdet_registry.HOOKS, mmdet_registry.LOOPS, mmdet_registry.OPTIM_WRAPPERS,
    mmdet_registry.OPTIMIZERS, mmdet_registry.PARAM_SCHEDULERS, mmdet_registry.VISUALIZERS,
    mmdet_registry.VISBACKENDS, mmdet_registry.LOG_PROCESSORS, mmdet_registry.WEIGHT_INITIALIZERS
]


def type_name(value: Any) -> str:
    """``module.QualName`` of the class, or the name of the function, that a type names (a
    string, class or lazy import); strings are looked up in mmdet's registries, then (RoI layers,
    NMS ops) in ``mmcv.ops``."""
    if isinstance(value, (LazyObject, LazyAttr)):
        value = value.build()
    if isinstance(value, str):
        for registry in REGISTRIES:
            try:
                obj = registry.get(value)
            except RuntimeError:  # not registered and not an importable dotted name
                obj = None
            if obj is not None:
                value = obj
                break
        else:
            # mmdet looks up RoI layers and NMS ops by name in mmcv.ops
            if not hasattr(mmcv.ops, value):
                return value
            value = getattr(mmcv.ops, value)
    if isinstance(value, type):
        return f'{value.__module__}.{value.__qualname__}'
    return value.__name__  # a function, e.g. mmcv.ops.nms


def normalise(value: Any, key: str = '') -> Any:
    """Plain dicts and lists with every type resolved by :func:`type_name`."""
    if isinstance(value, dict):
        items = dict(value.items())  # ConfigDict.items() builds lazy imports
        if 'type' in items and \
                type_name(items['type']) == 'mmcv.transforms.processing.RandomChoiceResize':
            # mmcv's default, resolved in the mmdet scope of the classic configs
            items.setdefault('resize_type', 'Resize')
        # `_scope_` (added to the dicts of `mmdet::` bases) only says where the types resolve
        return {k: normalise(v, k) for k, v in items.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, (LazyObject, LazyAttr, type)) or callable(value):
        return type_name(value)
    if key in TYPE_KEYS and isinstance(value, str):
        return type_name(value)
    return value


@pytest.fixture
def no_default_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DefaultScope instance, as in a Runner started from a pure-Python config."""
    monkeypatch.setattr(DefaultScope, '_instance_dict', OrderedDict())
    assert DefaultScope.get_current_instance() is None


def load_pair(classic: str):
    return (Config.fromfile(CLASSIC_DIR / classic), Config.fromfile(PURE_DIR / PAIRS[classic]))


def test_every_pure_config_has_a_classic_twin():
    assert sorted(p.name for p in PURE_DIR.glob('*.py') if p.name != '__init__.py') == \
        sorted(PAIRS.values())
    assert all((CLASSIC_DIR / name).is_file() for name in PAIRS)


@pytest.mark.parametrize('classic', sorted(PAIRS))
def test_settings_match_the_classic_twin(classic: str):
    classic_cfg, pure_cfg = load_pair(classic)
    assert classic_cfg.default_scope == 'mmdet' and pure_cfg.default_scope is None
    assert 'custom_imports' not in pure_cfg
    for key in sorted(set(classic_cfg.keys()) - CLASSIC_ONLY_KEYS):
        assert key in pure_cfg, key
        assert normalise(pure_cfg[key], key) == normalise(classic_cfg[key], key), key


def describe_transform(transform: Any) -> tuple:
    """A built data transform: its class and the settings that decide the input size."""
    resize = getattr(transform, 'resize', None)  # RandomChoiceResize's inner transform
    return (type(transform), getattr(transform, 'scale', None), getattr(transform, 'scales', None),
            getattr(transform, 'keep_ratio', None), type(resize),
            getattr(resize, 'keep_ratio', None))


def build_model_and_pipelines(cfg: Config) -> Dict[str, Any]:
    cfg.model.backbone.init_cfg = None  # no weights offline
    model = MODELS.build(cfg.model)
    pipelines: Dict[str, List[tuple]] = {}
    for split in ('train', 'val', 'test'):
        pipeline = Compose(cfg[f'{split}_dataloader'].dataset.pipeline).transforms
        pipelines[split] = [describe_transform(t) for t in pipeline]
    return dict(
        shapes={k: tuple(v.shape) for k, v in model.state_dict().items()},
        modules={name: type(module) for name, module in model.named_modules()},
        trainable={name: p.requires_grad for name, p in model.named_parameters()},
        pipelines=pipelines,
        test_cfg=normalise(model.bbox_head.test_cfg),
        rcnn_train_cfg=normalise(model.roi_head.train_cfg))


@pytest.mark.parametrize('classic', sorted(PAIRS))
def test_builds_the_model_and_pipelines_of_the_classic_twin(classic: str, request):
    classic_cfg, pure_cfg = load_pair(classic)
    expected = build_model_and_pipelines(classic_cfg)  # in the mmdet scope (conftest)
    request.getfixturevalue('no_default_scope')
    built = build_model_and_pipelines(pure_cfg)
    for key in expected:
        assert built[key] == expected[key], key
    # mmdet's Resize (which also resizes boxes and masks), not mmcv's, also without the mmdet scope
    train_resize = built['pipelines']['train'][2]
    assert MmdetResize in (train_resize[0], train_resize[4])


# ---------------------------------------------------------------------------------------------
# two iterations under tools/train.py

IMAGE_H, IMAGE_W = 96, 128
# (x, y, w, h, category id) per image
BOXES = [[(10, 12, 40, 30, 1)], [(60, 20, 50, 60, 2)], [(8, 40, 30, 40, 1), (70, 10, 40, 28, 2)]]
CLASSES = ('ball', 'bar')


def write_tiny_coco(root: Path) -> Path:
    """Noisy 96x128 images with filled ellipses, and their instances json (polygons)."""
    rng = np.random.default_rng(0)
    (root / 'images').mkdir(parents=True)
    (root / 'annotations').mkdir()
    images, annotations = [], []
    for image_id, boxes in enumerate(BOXES, start=1):
        image = rng.integers(0, 60, (IMAGE_H, IMAGE_W, 3), dtype=np.uint8)
        for x, y, w, h, category_id in boxes:
            t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
            polygon = np.stack([x + w / 2 * (1 + np.cos(t)), y + h / 2 * (1 + np.sin(t))], 1)
            color = (40, 200, 40) if category_id == 1 else (200, 40, 40)
            cv2.fillPoly(image, [polygon.round().astype(np.int32)], color)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=category_id,
                bbox=[x, y, w, h], area=float(np.pi * w * h / 4), iscrowd=0,
                segmentation=[polygon.reshape(-1).round(2).tolist()]))
        file_name = f'{image_id:04d}.png'
        cv2.imwrite(str(root / 'images' / file_name), image)
        images.append(dict(id=image_id, file_name=file_name, width=IMAGE_W, height=IMAGE_H))
    categories = [dict(id=i, name=name) for i, name in enumerate(CLASSES, start=1)]
    ann_file = root / 'annotations' / 'instances.json'
    ann_file.write_text(
        json.dumps(dict(images=images, annotations=annotations, categories=categories)))
    return ann_file


@pytest.mark.slow
def test_pure_config_trains_under_tools_train(tmp_path: Path):
    data_root = tmp_path / 'tiny_coco'
    ann_file = write_tiny_coco(data_root)
    work_dir = tmp_path / 'work_dir'
    config = PURE_DIR / 'centermask_r50_fpn_1x_coco.py'
    classes = f'({",".join(CLASSES)})'
    options = [
        # a ResNet-18 without ImageNet weights, for the tiny dataset's classes
        'model.backbone.depth=18', 'model.backbone.init_cfg=None',
        'model.neck.in_channels=[128,256,512]', f'model.bbox_head.num_classes={len(CLASSES)}',
        f'model.roi_head.mask_head.num_classes={len(CLASSES)}',
        f'model.roi_head.mask_iou_head.num_classes={len(CLASSES)}',
        # an untrained model: keep its detections, but only a few (the mask heads are costly)
        'model.train_cfg.bbox.max_per_img=20', 'model.test_cfg.bbox.max_per_img=10',
        'model.test_cfg.bbox.score_thr=0.0',
        # an untrained model predicts many empty boxes, which the final clip drops: without them
        # in the top 10 every image keeps detections for the metrics (seeded: the same each run)
        'model.test_cfg.bbox.min_bbox_size=0', 'randomness.seed=0',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
        f'val_evaluator.ann_file={ann_file}',
    ]
    options += [f'train_dataloader.dataset.pipeline.2.scales=[({IMAGE_W},{IMAGE_H})]',
                f'val_dataloader.dataset.pipeline.1.scale=({IMAGE_W},{IMAGE_H})']
    for split in ('train', 'val'):
        loader = f'{split}_dataloader'
        options += [
            f'{loader}.batch_size=1', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False', f'{loader}.dataset.data_root={data_root}/',
            f'{loader}.dataset.ann_file=annotations/instances.json',
            f'{loader}.dataset.data_prefix.img=images/',
            f'{loader}.dataset.metainfo.classes={classes}',
        ]
    command = [sys.executable, str(ROOT / 'tools' / 'train.py'), str(config), '--work-dir',
               str(work_dir), '--cfg-options', *options]
    env = dict(os.environ, PYTHONWARNINGS='ignore')
    process = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)
    assert process.returncode == 0, (process.stdout + process.stderr)[-4000:]

    scalars_file, = work_dir.glob('*/vis_data/scalars.json')
    records = [json.loads(line) for line in scalars_file.read_text().splitlines()]
    losses = [r for r in records if 'loss' in r]
    assert [r['step'] for r in losses] == [1, 2]
    for name in ('loss', 'loss_cls', 'loss_bbox', 'loss_centerness', 'loss_mask'):
        assert all(np.isfinite(r[name]) for r in losses), name
    metrics = [r for r in records if 'coco/segm_mAP' in r]  # validation at the end
    assert len(metrics) == 1
    assert 0.0 <= metrics[0]['coco/bbox_mAP'] <= 1.0
    assert 0.0 <= metrics[0]['coco/segm_mAP'] <= 1.0

    # the config the Runner dumped (types as dotted paths) builds the model of the checkpoint
    dumped = Config.fromfile(work_dir / config.name)
    assert dumped.model.type == 'mmdet_centermask.models.CenterMask'
    assert dumped.model.backbone.depth == 18
    model = MODELS.build(dumped.model)
    checkpoint = torch.load(work_dir / 'iter_2.pth', map_location='cpu')
    model.load_state_dict(checkpoint['state_dict'], strict=True)
