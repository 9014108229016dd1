"""The bundled demo data: generated deterministically, loaded by mmdet's CocoDataset through the
demo config with the right classes, polygon masks and boxes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT, load_config

from mmdet.registry import DATASETS
from mmdet.structures.mask import BitmapMasks, PolygonMasks

CONFIG = 'centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py'


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('demo')
    for out in (root / 'a', root / 'b'):
        subprocess.run(
            [
                sys.executable,
                'tools/dataset_converters/make_demo_dataset.py',
                '--out',
                str(out),
                '--num-train',
                '12',
                '--num-val',
                '4',
                '--seed',
                '0',
            ],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return root


def test_generation_is_deterministic(demo_root):
    for split in ('train', 'val'):
        a = (demo_root / 'a' / 'annotations' / f'instances_{split}.json').read_text()
        b = (demo_root / 'b' / 'annotations' / f'instances_{split}.json').read_text()
        assert a == b
    first = sorted((demo_root / 'a' / 'train').iterdir())[0]
    assert first.read_bytes() == (demo_root / 'b' / 'train' / first.name).read_bytes()


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_dataset_loads_classes_masks_and_boxes(demo_root, split):
    cfg = load_config(CONFIG)
    loader = cfg.train_dataloader if split == 'train' else cfg.val_dataloader
    dataset_cfg = loader.dataset
    dataset_cfg.data_root = str(demo_root / 'a')
    dataset = DATASETS.build(dataset_cfg)
    coco = json.loads((demo_root / 'a' / 'annotations' / f'instances_{split}.json').read_text())
    assert dataset.metainfo['classes'] == ('person', 'bottle', 'coin', 'horse', 'logo')
    assert [c['name'] for c in coco['categories']] == list(dataset.metainfo['classes'])
    assert len(dataset) == len({a['image_id'] for a in coco['annotations']})
    num_instances = 0
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        gt = sample.gt_instances
        # the test pipeline loads the annotations after the resize, at the original size
        h, w = sample.img_shape if split == 'train' else sample.ori_shape
        # the training pipeline keeps the polygons (LoadPolygonAnnotations), the test pipeline's
        # LoadAnnotations rasterises them
        mask_type = PolygonMasks if split == 'train' else BitmapMasks
        assert isinstance(gt.masks, mask_type) and len(gt.masks) == len(gt) > 0
        assert (gt.masks.height, gt.masks.width) == (h, w)
        assert gt.labels.min() >= 0 and gt.labels.max() < 5
        boxes = gt.bboxes.tensor if hasattr(gt.bboxes, 'tensor') else gt.bboxes
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        assert boxes[:, 2].max() <= w + 1 and boxes[:, 3].max() <= h + 1
        # every mask fills its box: exactly at the original size (val); after the training resize a
        # thin part of a mask may vanish from the resized bitmap
        mask_boxes = gt.masks.get_bboxes('hbox').tensor
        assert np.allclose(mask_boxes.numpy(), boxes.numpy(), atol=1.0 if split == 'val' else 4.0)
        num_instances += len(gt)
    assert num_instances == sum(1 for a in coco['annotations'] if not a['iscrowd'])
