"""The bundled demo data: generated deterministically, loaded by mmdet's CocoDataset through the
demo config with the right classes, polygon masks and boxes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmdet_centermask.testing import REPO_ROOT, load_config, read_panoptic_ids

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


@pytest.mark.parametrize('split', ['train', 'val'])
def test_panoptic_format_has_the_instances_as_things_and_the_texture_as_stuff(demo_root, split):
    """Every annotated instance is a thing segment (its rasterised polygons and its PNG pixels
    agree), the background texture is the image's one stuff segment, the rest of the pasted
    objects is void; the panoptic demo config loads it with the checks of
    CheckedCocoPanopticDataset."""
    import pycocotools.mask as mask_util

    root = demo_root / 'a' / 'annotations'
    instances = json.loads((root / f'instances_{split}.json').read_text())
    panoptic = json.loads((root / f'panoptic_{split}.json').read_text())
    assert [(c['name'], c['isthing']) for c in panoptic['categories']] == [
        (name, 1) for name in ('person', 'bottle', 'coin', 'horse', 'logo')
    ] + [(name, 0) for name in ('grass', 'gravel', 'brick')]
    by_image, ious = {}, []
    for ann in instances['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    for record in panoptic['annotations']:
        image = next(i for i in instances['images'] if i['id'] == record['image_id'])
        ids = read_panoptic_ids(root / f'panoptic_{split}' / record['file_name'])
        *things, stuff = record['segments_info']
        assert stuff['category_id'] in (6, 7, 8) and stuff['area'] == (ids == stuff['id']).sum()
        assert set(np.unique(ids).tolist()) <= {0} | {s['id'] for s in record['segments_info']}
        anns = by_image.get(record['image_id'], [])
        assert [s['category_id'] for s in things] == [a['category_id'] for a in anns]
        for segment, ann in zip(things, anns):
            mask = ids == segment['id']
            polygons = mask_util.decode(mask_util.merge(mask_util.frPyObjects(
                ann['segmentation'], image['height'], image['width']))).astype(bool)
            ys, xs = np.nonzero(mask)
            assert segment['area'] == mask.sum()
            assert segment['bbox'] == [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1]
            # the polygons are traced from these pixels: small objects differ by their border
            ious.append((mask & polygons).sum() / (mask | polygons).sum())
    assert min(ious) > 0.5 and np.mean(ious) > 0.85
    cfg = load_config('panoptic_centermask/demo/panoptic-centermask-lite_v2-19-slim-dw_fpn_demo.py')
    dataset_cfg = (cfg.train_dataloader if split == 'train' else cfg.val_dataloader).dataset
    dataset_cfg.data_root = str(demo_root / 'a')
    dataset = DATASETS.build(dataset_cfg)
    sample = dataset[0]['data_samples']
    assert len(sample.gt_instances) == len(sample.gt_instances.masks) > 0
    assert sample.gt_sem_seg.sem_seg.max() >= 5  # a stuff label
