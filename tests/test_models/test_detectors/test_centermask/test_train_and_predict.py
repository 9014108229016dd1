"""The CenterMask detector: loss / predict / tensor modes on a small R-18 model from the R-50 zoo
config."""

import pytest
import torch
from mmdet.registry import MODELS
from mmdet_centermask.testing import (SMALL_CENTERMASK_CLASSES, build_small_centermask, load_config,
                                      small_centermask_inputs)

@pytest.fixture(scope='module')
def model():
    return build_small_centermask()


@pytest.fixture(scope='module')
def detecting_model():
    """The small model with its classification prior bias at 0 (scores ~0.5), so that the
    untrained model detects something."""
    model = build_small_centermask()
    torch.nn.init.constant_(model.bbox_head.conv_cls.bias, 0.0)
    return model.eval()


def test_loss_reaches_every_parameter(model):
    model.train()
    model.zero_grad()
    # one box per FCOS regress range (P3..P7), so that every level scale gets a gradient
    data = small_centermask_inputs(
        model,
        True,
        img_shapes=[(256, 352), (224, 288)],
        num_gts=[6, 3],
        box_sizes=[12, 28, 56, 110, 300],
    )
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_centerness', 'loss_mask', 'loss_mask_iou'}
    for name, value in losses.items():
        assert torch.isfinite(value) and value > 0, name
    sum(losses.values()).backward()
    no_grad = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    assert no_grad == []


def test_bitmap_and_polygon_ground_truth_give_the_same_losses(model):
    """The same instances as polygons or as bitmaps (RLE decodes to bitmaps): identical FCOS losses,
    mask losses equal up to rasterisation (the reference crashes on bitmaps)."""
    model.train()
    losses = {}
    for mask_type in ('polygon', 'bitmap'):
        torch.manual_seed(0)  # the RoI sampler is random
        with torch.no_grad():
            losses[mask_type] = model(**small_centermask_inputs(model, True, mask_type=mask_type), mode='loss')
    for name in ('loss_cls', 'loss_bbox', 'loss_centerness'):
        assert losses['bitmap'][name] == losses['polygon'][name]
    for name in ('loss_mask', 'loss_mask_iou'):
        assert losses['bitmap'][name] > 0
        torch.testing.assert_close(
            losses['bitmap'][name], losses['polygon'][name], rtol=0.1, atol=0
        )


def test_loss_without_ground_truth(model):
    model.train()
    losses = model(**small_centermask_inputs(model, True, num_gts=[0, 0]), mode='loss')
    assert losses['loss_cls'] > 0
    for name in ('loss_bbox', 'loss_centerness', 'loss_mask', 'loss_mask_iou'):
        assert losses[name] == 0, name
    sum(losses.values()).backward()


def test_mask_branch_trains_on_top_100_detections(model):
    """Training-time FCOS detections are capped at train_cfg.bbox.max_per_img (100) before they are
    sampled with the ground truth for the mask branch."""
    model.train()
    data = small_centermask_inputs(model, True)
    proposal_cfg = model.train_cfg['bbox'].copy()
    assert proposal_cfg['max_per_img'] == 100
    proposal_cfg['score_thr'] = 0.0  # an untrained head scores ~0.01: let every point through
    with torch.no_grad():
        _, dets = model.bbox_head.loss_and_predict(
            model.extract_feat(data['inputs']), data['data_samples'], proposal_cfg=proposal_cfg
        )
    assert [len(d) for d in dets] == [100, 100]


def test_predict(detecting_model):
    model = detecting_model
    data = small_centermask_inputs(model, False, scale=0.5)
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == 2
    for sample in results:
        pred = sample.pred_instances
        n = len(pred)
        assert 0 < n <= 50  # test_cfg.bbox.max_per_img
        h, w = sample.ori_shape
        assert pred.masks.shape == (n, h, w) and pred.masks.dtype == torch.bool
        assert pred.bboxes.shape == (n, 4) and pred.labels.max() < SMALL_CENTERMASK_CLASSES
        # boxes are rescaled to the original image (twice the input size here)
        assert pred.bboxes[:, 2].max() <= w + 1e-3 and pred.bboxes[:, 3].max() <= h + 1e-3
        assert pred.mask_scores.shape == (n,)


def clipped_and_kept(bboxes, shape):
    """Boxes clipped to an image of ``shape`` and whether they keep an area (detectron2)."""
    h, w = shape[:2]
    clipped = torch.stack([bboxes[:, 0].clamp(0, w), bboxes[:, 1].clamp(0, h),
                           bboxes[:, 2].clamp(0, w), bboxes[:, 3].clamp(0, h)], 1)
    return clipped, (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])


def test_predict_boxes_are_the_fcos_detections(detecting_model):
    """The final boxes are the FCOS detections (unclipped, zero-size ones kept) clipped to the
    original image, without those left empty."""
    model = detecting_model
    data = small_centermask_inputs(model, False, scale=0.5)
    with torch.no_grad():
        results = model(**data, mode='predict')
        feats = model.extract_feat(data['inputs'])
        fcos = model.bbox_head.predict(feats, data['data_samples'], rescale=True)
    for sample, dets in zip(results, fcos):
        clipped, kept = clipped_and_kept(dets.bboxes, sample.ori_shape)
        assert len(sample.pred_instances) == int(kept.sum()) > 0
        torch.testing.assert_close(sample.pred_instances.bboxes, clipped[kept])
        torch.testing.assert_close(sample.pred_instances.scores, dets.scores[kept])
        assert torch.equal(sample.pred_instances.labels, dets.labels[kept])


def test_predict_with_no_detections(detecting_model):
    model = detecting_model
    data = small_centermask_inputs(model, False, scale=0.5)
    model.test_cfg['bbox']['score_thr'] = 1.1  # nothing passes
    try:
        with torch.no_grad():
            results = model(**data, mode='predict')
    finally:
        model.test_cfg['bbox']['score_thr'] = 0.05
    for sample in results:
        h, w = sample.ori_shape
        pred = sample.pred_instances
        assert pred.bboxes.shape == (0, 4) and pred.scores.shape == (0,)
        assert pred.masks.shape == (0, h, w) and pred.mask_scores.shape == (0,)


def test_tensor_mode_and_mask_scores(detecting_model):
    """``tensor`` mode gives the raw outputs; ``predict``'s mask scores (what segm evaluation ranks
    by) are the box scores times the predicted mask IoU of each detection's label."""
    model = detecting_model
    data = small_centermask_inputs(model, False)
    with torch.no_grad():
        (cls_scores, bbox_preds, centernesses), (mask_preds, mask_ious) = model(
            **data, mode='tensor'
        )
        results = model(**data, mode='predict')
    assert [c.shape[1] for c in cls_scores] == [SMALL_CENTERMASK_CLASSES] * 5
    assert [b.shape[1] for b in bbox_preds] == [4] * 5 and [c.shape[1] for c in centernesses] == [
        1
    ] * 5
    with torch.no_grad():
        fcos = model.bbox_head.predict(model.extract_feat(data['inputs']), data['data_samples'],
                                       rescale=True)
    # tensor mode segments every FCOS detection; predict drops those empty after clipping
    counts = [len(dets) for dets in fcos]
    assert mask_preds.shape == (sum(counts), SMALL_CENTERMASK_CLASSES, 28, 28) and mask_ious.shape == (
        sum(counts),
    )
    for sample, dets, ious in zip(results, fcos, mask_ious.split(counts)):
        pred = sample.pred_instances
        _, kept = clipped_and_kept(dets.bboxes, sample.ori_shape)
        torch.testing.assert_close(pred.mask_scores, pred.scores * ious[kept])


def test_mismatched_num_classes_is_a_clear_error():
    cfg = load_config('centermask/centermask_r50_fpn_1x_coco.py')
    cfg.model.roi_head.mask_head.num_classes = 3
    with pytest.raises(ValueError, match=r'num_classes.*bbox_head=80.*mask_head=3'):
        MODELS.build(cfg.model)
