"""A small CenterMask overfits a handful of synthetic images: the total loss falls well down and the
predicted masks overlap the ground truth."""

import numpy as np
import torch
from mmdet_centermask.testing import load_config, make_batch

from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps

NUM_CLASSES = 3
COLOURS = np.array([[40, 40, 220], [40, 200, 40], [220, 120, 30]], np.uint8)


def _painted_batch() -> dict:
    """Two 96x128 images; each object is an ellipse (its polygon mask) painted in its class
    colour on a grey background, so that what must be learned is visible."""
    batch = make_batch(
        [(96, 128)] * 2, [3, 2], num_classes=NUM_CLASSES, box_sizes=[60, 36, 24], seed=3
    )
    for image, sample in zip(batch['inputs'], batch['data_samples']):
        image[:] = 128
        masks = sample.gt_instances.masks.to_ndarray().astype(bool)
        for mask, label in zip(masks, sample.gt_instances.labels):
            image[:, torch.from_numpy(mask)] = torch.from_numpy(COLOURS[label])[:, None]
    return batch


def test_overfits_a_handful_of_images():
    cfg = load_config('centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py')
    for head in (
        cfg.model.bbox_head,
        cfg.model.roi_head.mask_head,
        cfg.model.roi_head.mask_iou_head,
    ):
        head.num_classes = NUM_CLASSES
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    # relu(scale * distance) passes no gradient to a distance channel that starts negative at
    # every positive point; with mmdet's (and centermask2's) zero bias one can stay dead for good
    # (box IoU stuck near 0.5 on some CPUs): start the distances positive
    torch.nn.init.constant_(model.bbox_head.conv_reg.bias, 1.0)
    batch = _painted_batch()
    data = model.data_preprocessor(batch, True)
    # the zoo's optimizer (SGD with momentum); Adam at 1e-3 can push a ReLU-clamped FCOS distance
    # channel below zero for good (no gradient flows back through the clamp)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    model.train()
    totals = []
    for _ in range(150):
        losses = model(**data, mode='loss')
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
        optimizer.step()
        totals.append(float(total))
    assert np.mean(totals[-5:]) < 0.3 * np.mean(totals[:5])

    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(batch, False), mode='predict')
    for sample, result in zip(batch['data_samples'], results):
        gt, pred = sample.gt_instances, result.pred_instances
        assert len(pred) > 0
        ious = bbox_overlaps(gt.bboxes, pred.bboxes)
        gt_masks = torch.from_numpy(gt.masks.to_ndarray()).bool()
        for i, gt_mask in enumerate(gt_masks):
            # the best-scoring detection of the right class that overlaps this object
            candidates = ((ious[i] > 0.5) & (pred.labels == gt.labels[i])).nonzero().flatten()
            assert len(candidates) > 0, f'object {i} not detected'
            best = candidates[pred.scores[candidates].argmax()]
            inter = (pred.masks[best] & gt_mask).sum()
            union = (pred.masks[best] | gt_mask).sum()
            assert inter / union > 0.5
