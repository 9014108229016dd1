"""A tiny COCO panoptic dataset for tests, its dataset config, and checks of panoptic
predictions and PNGs."""

import json
from pathlib import Path

import cv2
import mmcv
import numpy as np


# (x, y, w, h) of the thing squares per image of write_tiny_coco_panoptic; the rest is stuff
TINY_PANOPTIC_SQUARES = [[(8, 8, 24, 24)], [(30, 20, 20, 30), (4, 40, 16, 16)]]
TINY_PANOPTIC_CATEGORIES = [
    dict(id=1, name='square', isthing=1, supercategory='shape'),
    dict(id=7, name='sky', isthing=0, supercategory='stuff'),
    dict(id=9, name='ground', isthing=0, supercategory='stuff'),
]


def write_tiny_coco_panoptic(root: Path, stuff: bool = True) -> dict:
    """Write a toy COCO panoptic dataset to ``root``: ``images/`` with two 64x64 images of
    green squares (category 1) on a sky (7, upper half) and ground (9, lower half) background,
    ``panoptic.json`` and ``panoptic/*.png``. ``stuff=False`` leaves the background void.
    Returns the json (to be changed and written again by a test)."""
    from panopticapi.utils import id2rgb  # installed by the set-up, optional elsewhere

    rng = np.random.default_rng(0)
    (root / 'images').mkdir(parents=True)
    (root / 'panoptic').mkdir()
    size = 64
    images, annotations = [], []
    for image_id, squares in enumerate(TINY_PANOPTIC_SQUARES, start=1):
        image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        ids = np.zeros((size, size), np.int64)
        segments = []
        if stuff:
            for segment_id, category_id, rows in ((101, 7, slice(0, 32)), (102, 9, slice(32, 64))):
                ids[rows] = segment_id
                image[rows] += 80 if category_id == 7 else 40
                segments.append(dict(id=segment_id, category_id=category_id, iscrowd=0,
                                     bbox=[0, rows.start, size, 32], area=size * 32))
        for k, (x, y, w, h) in enumerate(squares, start=1):
            ids[y:y + h, x:x + w] = k
            image[y:y + h, x:x + w] = (40, 200, 40)
            segments.append(dict(id=k, category_id=1, iscrowd=0, bbox=[x, y, w, h], area=w * h))
        for segment in segments:
            segment['area'] = int((ids == segment['id']).sum())
        file_name = f'{image_id:04d}.jpg'
        cv2.imwrite(str(root / 'images' / file_name), image)
        rgb = id2rgb(ids).astype(np.uint8)
        cv2.imwrite(str(root / 'panoptic' / file_name.replace('.jpg', '.png')), rgb[..., ::-1])
        images.append(dict(id=image_id, file_name=file_name, width=size, height=size))
        annotations.append(dict(image_id=image_id, file_name=file_name.replace('.jpg', '.png'),
                                segments_info=segments))
    coco = dict(images=images, annotations=annotations, categories=TINY_PANOPTIC_CATEGORIES)
    (root / 'panoptic.json').write_text(json.dumps(coco))
    return coco


def tiny_panoptic_dataset_cfg(root: Path, pipeline: list) -> dict:
    """A ``CheckedCocoPanopticDataset`` config of :func:`write_tiny_coco_panoptic` data."""
    return dict(
        type='CheckedCocoPanopticDataset',
        data_root=str(root),
        ann_file='panoptic.json',
        data_prefix=dict(img='images/', seg='panoptic/'),
        metainfo=dict(classes=('square', 'sky', 'ground'), thing_classes=('square', ),
                      stuff_classes=('sky', 'ground')),
        pipeline=pipeline)


def assert_panoptic_matches_instances(result, semantic_head: dict, score_thr: float) -> None:
    """The ``pred_panoptic_seg`` of a :class:`DetDataSample` is consistent with its
    ``pred_instances``: at least one thing segment, no more than instances scoring
    ``score_thr``, each of a thing label and inside the mask of such an instance of its label;
    the other values stuff labels or void."""
    from mmdet.evaluation.functional import INSTANCE_OFFSET

    num_things = semantic_head['num_things_classes']
    num_classes = num_things + semantic_head['num_stuff_classes']
    pan = result.pred_panoptic_seg.sem_seg[0].numpy()
    pred = result.pred_instances
    laid = pred[pred.scores >= score_thr]
    segments = np.unique(pan)
    things = segments[segments >= INSTANCE_OFFSET]
    assert 0 < len(things) <= len(laid)
    for segment in things:
        label, pixels = segment % INSTANCE_OFFSET, pan == segment
        assert label < num_things
        assert any(bool(mask[pixels].all()) for mask, lab in
                   zip(laid.masks.numpy(), laid.labels.numpy()) if lab == label), segment
    stuff = segments[segments < INSTANCE_OFFSET]
    assert ((stuff >= num_things) & (stuff <= num_classes)).all()


def read_panoptic_ids(png: Path) -> np.ndarray:
    """The segment ids (``R + 256 G + 256^2 B``, panopticapi's ``rgb2id``) of a panoptic PNG."""
    from panopticapi.utils import rgb2id  # installed by the set-up, optional elsewhere

    return rgb2id(mmcv.imread(str(png), channel_order='rgb')).astype(np.int64)
