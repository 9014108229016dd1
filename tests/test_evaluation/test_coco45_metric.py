"""Our evaluation path reproduces pycocotools' published stats on real COCO data.

``../shared/data/coco45`` holds 45 real COCO images with their official annotations (crowd RLE and
multi-part polygons included) and the COCO API's fake detections, for which pycocotools 2.0.11 gives
known stats. The predictions go through the same path as a model's output: ``pred_instances`` with
xyxy boxes, label indices, scores and bool mask tensors, into the ``val_evaluator`` of our zoo
config (mmdet's ``CocoMetric``), with mask-score ranking switched off (no ``mask_scores``).

Boxes are passed as float64: the fake results sit so close to IoU thresholds that a float32 round
trip alone moves bbox AP from 0.5461 to 0.5449 (checked with pycocotools on the raw file).
"""

import json
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

CONFIG = (
    Path(__file__).resolve().parents[2] / 'configs' / 'centermask' / 'centermask_r50_fpn_1x_coco.py'
)

# README of the fixture: the 12 COCOeval stats pycocotools 2.0.11 gives for the fake results.
EXPECTED = {
    'bbox': [
        0.5461,
        0.7445,
        0.6175,
        0.5525,
        0.5463,
        0.5480,
        0.4352,
        0.5995,
        0.6013,
        0.6015,
        0.5675,
        0.5697,
    ],
    'segm': [
        0.3539,
        0.5927,
        0.3374,
        0.3394,
        0.3348,
        0.3978,
        0.2896,
        0.4099,
        0.4113,
        0.4055,
        0.3715,
        0.4131,
    ],
}
STAT_NAMES = [
    'mAP',
    'mAP_50',
    'mAP_75',
    'mAP_s',
    'mAP_m',
    'mAP_l',
    'AR@1',
    'AR@10',
    'AR@100',
    'AR_s@100',
    'AR_m@100',
    'AR_l@100',
]



def _data_samples(gt: dict, results: list, metric: str, label_of_cat: dict) -> list:
    """One data sample per image, predictions in the format a detector's predict() returns."""
    by_image = {img['id']: [] for img in gt['images']}
    for r in results:
        by_image[r['image_id']].append(r)
    samples = []
    for img in gt['images']:
        h, w = img['height'], img['width']
        dets = by_image[img['id']]
        if metric == 'bbox':
            xywh = np.array([d['bbox'] for d in dets], np.float64).reshape(-1, 4)
        else:
            xywh = np.array(
                [mask_util.toBbox(d['segmentation']) for d in dets], np.float64
            ).reshape(-1, 4)
        bboxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        pred = dict(
            bboxes=torch.from_numpy(bboxes.astype(np.float64)),
            scores=torch.tensor([d['score'] for d in dets], dtype=torch.float32),
            labels=torch.tensor([label_of_cat[d['category_id']] for d in dets], dtype=torch.long),
        )
        if metric == 'segm':
            masks = [mask_util.decode(d['segmentation']).astype(bool) for d in dets]
            pred['masks'] = torch.from_numpy(
                np.stack(masks) if masks else np.zeros((0, h, w), bool)
            )
        samples.append(dict(img_id=img['id'], ori_shape=(h, w), pred_instances=pred))
    return samples


def _evaluate(metric: str, evaluator: dict, coco45: Path, tmp_path: Path) -> dict:
    from mmdet.datasets import CocoDataset
    from mmdet.registry import METRICS

    evaluator = dict(
        evaluator,
        ann_file=str(coco45 / 'instances.json'),
        metric=metric,
        backend_args=None,
        outfile_prefix=str(tmp_path / 'coco45'),
    )
    coco_metric = METRICS.build(evaluator)
    coco_metric.dataset_meta = dict(CocoDataset.METAINFO)
    gt = json.loads((coco45 / 'instances.json').read_text())
    # label index -> category id exactly as CocoMetric maps them back
    cat_ids = coco_metric._coco_api.get_cat_ids(cat_names=coco_metric.dataset_meta['classes'])
    label_of_cat = {cat: label for label, cat in enumerate(cat_ids)}
    results = json.loads((coco45 / f'fake_{metric}_results.json').read_text())
    coco_metric.process({}, _data_samples(gt, results, metric, label_of_cat))
    return coco_metric.evaluate(size=len(gt['images']))


def _pycocotools_stats(results_file: Path, metric: str, coco45: Path) -> np.ndarray:
    """All 12 stats at full precision from the json the metric dumped, evaluated as CocoMetric does
    (segm results without their boxes, so that pycocotools sizes masks by mask area)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    results = json.loads(results_file.read_text())
    if metric == 'segm':
        for result in results:
            result.pop('bbox')
    coco_gt = COCO(str(coco45 / 'instances.json'))
    ev = COCOeval(coco_gt, coco_gt.loadRes(results), metric)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev.stats


@pytest.mark.parametrize('metric', ['bbox', 'segm'])
def test_coco45_fake_results_match_pycocotools(metric, coco45, tmp_path):
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(CONFIG))
    stats = _evaluate(metric, cfg.val_evaluator, coco45, tmp_path)
    # CocoMetric logs the 6 AP stats rounded to 3 decimals
    got = [stats[f'coco/{metric}_{name}'] for name in STAT_NAMES[:6]]
    np.testing.assert_allclose(got, EXPECTED[metric][:6], atol=6e-4)
    stats12 = _pycocotools_stats(tmp_path / f'coco45.{metric}.json', metric, coco45)
    np.testing.assert_allclose(stats12, EXPECTED[metric], atol=5e-5)
