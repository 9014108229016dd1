"""Our panoptic evaluation path reproduces panopticapi's PQ on real COCO panoptic data.

``../shared/data/coco_panoptic_sample`` holds two real COCO val2017 images with their official
panoptic annotations and a perturbed prediction whose PQ / SQ / RQ panopticapi's ``pq_compute``
gives (its README, ``expected_pq.json``). The prediction goes through the path a model's output
takes: ``pred_panoptic_seg`` as ``PanopticCenterMask`` writes it (``label + k * INSTANCE_OFFSET``
for the k-th thing segment, the label for stuff, ``len(classes)`` for void; a dict, as the
evaluator gets it) into the ``val_evaluator`` of our panoptic zoo config (mmdet's
``CocoPanopticMetric``, with panopticapi-lite).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet_centermask.testing import load_config, read_panoptic_ids
from mmengine.registry import init_default_scope

from mmdet.datasets import CocoPanopticDataset
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import METRICS

SAMPLE = Path(__file__).resolve().parents[3] / 'shared' / 'data' / 'coco_panoptic_sample'
CONFIG = 'panoptic_centermask/panoptic-centermask_r50_fpn_ms-3x_coco.py'
pytestmark = pytest.mark.skipif(
    not SAMPLE.is_dir(), reason=f'the real COCO panoptic sample is not at {SAMPLE}')


def prediction_samples() -> list:
    """The fake prediction as data samples of a panoptic model's output."""
    classes = CocoPanopticDataset.METAINFO['classes']
    categories = json.loads((SAMPLE / 'panoptic_coco_categories.json').read_text())
    label_of = {cat['id']: classes.index(cat['name']) for cat in categories}
    isthing = {cat['id']: cat['isthing'] for cat in categories}
    images = {img['id']: img for img in
              json.loads((SAMPLE / 'sample_data' / 'panoptic_examples.json').read_text())['images']}
    samples = []
    for ann in json.loads((SAMPLE / 'fake_prediction' / 'panoptic_pred.json').read_text())[
            'annotations']:
        ids = read_panoptic_ids(SAMPLE / 'fake_prediction' / 'png' / ann['file_name'])
        pan = np.full(ids.shape, len(classes), np.int64)  # void
        things = 0
        for segment in ann['segments_info']:
            label = label_of[segment['category_id']]
            if isthing[segment['category_id']]:
                things += 1
                label += things * INSTANCE_OFFSET
            assert not (pan[ids == segment['id']] != len(classes)).any()
            pan[ids == segment['id']] = label
        image = images[ann['image_id']]
        samples.append(dict(
            img_id=ann['image_id'],
            img_path=str(SAMPLE / 'sample_data' / 'input_images' / image['file_name']),
            ori_shape=(image['height'], image['width']),
            pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pan)[None])))
    return samples


def test_fixture_pq_is_reproduced():
    init_default_scope('mmdet')
    cfg = load_config(CONFIG)
    panoptic_cfg = dict(cfg.val_evaluator[0])
    assert panoptic_cfg['type'] == 'CocoPanopticMetric'
    panoptic_cfg.update(
        ann_file=str(SAMPLE / 'sample_data' / 'panoptic_examples.json'),
        seg_prefix=str(SAMPLE / 'sample_data' / 'panoptic_examples'))
    metric = METRICS.build(panoptic_cfg)
    metric.dataset_meta = CocoPanopticDataset.METAINFO
    samples = prediction_samples()
    assert len(samples) == 2
    metric.process({}, samples)
    results = metric.evaluate(len(samples))
    expected = json.loads((SAMPLE / 'fake_prediction' / 'expected_pq.json').read_text())
    for name, suffix in (('All', ''), ('Things', '_th'), ('Stuff', '_st')):
        for quality in ('pq', 'sq', 'rq'):
            key = f'coco_panoptic/{quality.upper()}{suffix}'
            assert results[key] == pytest.approx(100 * expected[name][quality], abs=1e-9), key
