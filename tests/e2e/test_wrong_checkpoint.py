"""A checkpoint of another architecture through ``tools/test.py`` and ``load_from`` in
``tools/train.py``: an error naming the mismatch instead of mmengine's warnings and a test (or a
training) of random weights.

CenterMask R-50 (the zoo config, one class, 128-pixel images) runs on a two-image COCO-format
dataset written here; the checkpoints are saved from models built in the test process.
"""
import json
import sys
from pathlib import Path
from typing import Dict, Tuple

import cv2
import numpy as np
import pytest
import torch
from mmdet_centermask.testing import ToolRun, load_config
from mmengine.config import Config

from mmdet.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = """
_base_ = '{zoo_config}'
data_root = 'data/tiny/'
metainfo = dict(classes=('square', ))
model = dict(
    backbone=dict(init_cfg=None),
    bbox_head=dict(num_classes=1),
    roi_head=dict(mask_head=dict(num_classes=1), mask_iou_head=dict(num_classes=1)),
    test_cfg=dict(bbox=dict(score_thr=0.0)))
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
dataset = dict(type='CocoDataset', data_root=data_root, metainfo=metainfo,
               ann_file='instances.json', data_prefix=dict(img='images/'), pipeline=pipeline)
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(_delete_=True, **dataset))
test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                       dataset=dict(_delete_=True, test_mode=True, **dataset))
test_evaluator = dict(ann_file=data_root + 'instances.json')
val_dataloader, val_evaluator, val_cfg = None, None, None
train_cfg = dict(max_iters=1)
default_hooks = dict(checkpoint=dict(interval=1000), logger=dict(interval=1))
"""


def write_tiny_coco(root: Path) -> None:
    """Two noisy 128 x 128 images, each with a filled square (polygon mask)."""
    rng = np.random.default_rng(0)
    (root / 'images').mkdir(parents=True)
    images, annotations = [], []
    for image_id, (x, y, size) in enumerate([(16, 24, 48), (56, 40, 64)], start=1):
        image = rng.integers(0, 60, (128, 128, 3), dtype=np.uint8)
        image[y:y + size, x:x + size] = (40, 200, 40)
        cv2.imwrite(str(root / 'images' / f'{image_id}.jpg'), image)
        images.append(dict(id=image_id, file_name=f'{image_id}.jpg', width=128, height=128))
        annotations.append(dict(
            id=image_id, image_id=image_id, category_id=1, bbox=[x, y, size, size],
            area=size * size, iscrowd=0,
            segmentation=[[x, y, x + size, y, x + size, y + size, x, y + size]]))
    (root / 'instances.json').write_text(json.dumps(dict(
        images=images, annotations=annotations, categories=[dict(id=1, name='square')])))


def save_model(model_cfg, path: Path) -> Path:
    torch.manual_seed(0)
    torch.save(dict(state_dict=MODELS.build(model_cfg).state_dict(), meta=dict()), path)
    return path


@pytest.fixture(scope='module')
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``data/tiny``, ``tiny.py`` (the R-50 zoo config on it), ``r50.pth`` (fits), ``r50_coco.pth``
    (80 classes) and ``lite_v19.pth`` (CenterMask-Lite V-19)."""
    root = tmp_path_factory.mktemp('wrong_checkpoint')
    write_tiny_coco(root / 'data' / 'tiny')
    zoo_config = ROOT / 'configs' / 'centermask' / 'centermask_r50_fpn_1x_coco.py'
    (root / 'tiny.py').write_text(TINY_CONFIG.format(zoo_config=zoo_config))
    save_model(Config.fromfile(str(root / 'tiny.py')).model, root / 'r50.pth')
    save_model(load_config('centermask/centermask_r50_fpn_1x_coco.py').model, root / 'r50_coco.pth')
    lite = load_config('centermask/centermask-lite_v2-19_fpn_ms-4x_coco.py').model
    save_model(lite, root / 'lite_v19.pth')
    return root


RUNS = {
    'test_lite': ('test', ['tiny.py', 'lite_v19.pth']),
    'test_r50': ('test', ['tiny.py', 'r50.pth']),
    'train_lite': ('train', ['tiny.py', '--cfg-options', 'load_from=lite_v19.pth']),
    'train_coco': ('train', ['tiny.py', '--cfg-options', 'load_from=r50_coco.pth']),
}


@pytest.fixture(scope='module')
def runs(workspace: Path) -> Dict[str, ToolRun]:
    """``tools/<tool>.py`` of each of :data:`RUNS`, side by side (one thread each), work dir
    named after the run."""
    return {name: ToolRun([sys.executable, str(ROOT / 'tools' / f'{tool}.py'), *args,
                           '--work-dir', name], cwd=workspace, timeout=180)
            for name, (tool, args) in RUNS.items()}


def result(runs: Dict[str, ToolRun], name: str) -> Tuple[int, str]:
    """Exit code and output of run ``name``."""
    output = runs[name].output(check=False)
    return runs[name].returncode, output


def test_test_tool_refuses_a_checkpoint_of_another_architecture(runs: Dict[str, ToolRun]) -> None:
    code, output = result(runs, 'test_lite')
    assert code != 0
    assert 'ValueError: checkpoint lite_v19.pth does not fit CenterMask' in output
    assert 'tools/model_converters/centermask2_to_mmdet.py' in output
    assert 'coco/bbox_mAP' not in output


def test_test_tool_evaluates_a_matching_checkpoint(runs: Dict[str, ToolRun]) -> None:
    code, output = result(runs, 'test_r50')
    assert code == 0, output[-3000:]
    assert 'coco/segm_mAP' in output


def test_train_tool_refuses_load_from_of_another_architecture(runs: Dict[str, ToolRun]) -> None:
    code, output = result(runs, 'train_lite')
    assert code != 0
    assert 'ValueError: checkpoint lite_v19.pth does not fit CenterMask' in output
    assert 'train a mostly random model' in output
    assert 'Iter(train)' not in output


def test_train_tool_fine_tunes_from_another_class_count(runs: Dict[str, ToolRun]) -> None:
    """An 80-class COCO checkpoint into the 1-class model: mmengine's warnings, then training."""
    code, output = result(runs, 'train_coco')
    assert code == 0, output[-3000:]
    assert 'size mismatch for bbox_head.conv_cls.weight' in output
    assert 'Iter(train) [1/1]' in output
