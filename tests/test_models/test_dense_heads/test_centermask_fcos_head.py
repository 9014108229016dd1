"""CenterMaskFCOSHead: sqrt(cls * centerness) scores and pixel-space training-time detections."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet.models.dense_heads import FCOSHead
from mmdet.structures import DetDataSample
from mmdet_centermask.models.dense_heads import CenterMaskFCOSHead

STRIDES = [8, 16, 32]
IMG_SHAPE = (96, 128)
TEST_CFG = ConfigDict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                      nms=dict(type='nms', iou_threshold=0.6), max_per_img=50)


def _head(cls=CenterMaskFCOSHead, **kwargs):
    torch.manual_seed(0)
    head = cls(num_classes=3, in_channels=8, feat_channels=8, stacked_convs=1,
               strides=STRIDES, regress_ranges=((-1, 32), (32, 64), (64, 1e8)),
               norm_on_bbox=True, centerness_on_reg=True, center_sampling=True, conv_bias=True,
               norm_cfg=None, loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
               test_cfg=TEST_CFG, **kwargs)
    # a cls bias near 0 so that many points pass the 0.05 score threshold
    torch.nn.init.constant_(head.conv_cls.bias, 0.0)
    return head


def _feats():
    torch.manual_seed(1)
    return [torch.rand(2, 8, IMG_SHAPE[0] // s, IMG_SHAPE[1] // s) for s in STRIDES]


def _samples(num_gts=(2, 0)):
    samples = []
    for n in num_gts:
        sample = DetDataSample(metainfo=dict(img_shape=IMG_SHAPE, pad_shape=IMG_SHAPE,
                                             scale_factor=(1.0, 1.0)))
        gt = InstanceData()
        gt.bboxes = torch.tensor([[10.0, 12.0, 60.0, 70.0], [40.0, 8.0, 120.0, 90.0]])[:n]
        gt.labels = torch.tensor([0, 2])[:n]
        sample.gt_instances = gt
        samples.append(sample)
    return samples


def _predict_both(ours, theirs):
    theirs.load_state_dict(ours.state_dict())
    ours.eval()
    theirs.eval()
    feats, metas = _feats(), [s.metainfo for s in _samples()]
    with torch.no_grad():
        return (ours.predict_by_feat(*ours(feats), batch_img_metas=metas),
                theirs.predict_by_feat(*theirs(feats), batch_img_metas=metas))


def test_scores_are_sqrt_of_mmdet_fcos_scores():
    """sqrt is monotonic: same boxes, labels and order as mmdet's FCOS (cls * centerness), and
    each score is the square root of mmdet's."""
    ours, theirs = _predict_both(_head(), _head(FCOSHead))
    for a, b in zip(ours, theirs):
        assert 0 < len(a) <= TEST_CFG.max_per_img
        torch.testing.assert_close(a.bboxes, b.bboxes)
        assert torch.equal(a.labels, b.labels)
        torch.testing.assert_close(a.scores, b.scores.sqrt())
        assert torch.all(a.scores > b.scores)  # all scores are in (0, 1)


def test_product_score_matches_mmdet_fcos():
    """With sqrt_score=False the head is exactly mmdet's FCOSHead."""
    ours, theirs = _predict_both(_head(sqrt_score=False), _head(FCOSHead))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.bboxes, b.bboxes)
        torch.testing.assert_close(a.scores, b.scores)
        assert torch.equal(a.labels, b.labels)


def test_training_detections_are_in_pixels():
    """loss_and_predict in train mode returns the same boxes as predict in eval mode (GroupNorm-free
    head, so train/eval forward agree): mmdet's FCOSHead would return them divided by the stride."""
    head, feats = _head(), _feats()
    samples = _samples()
    head.train()
    losses, train_dets = head.loss_and_predict(feats, samples, proposal_cfg=TEST_CFG)
    head.eval()
    with torch.no_grad():
        eval_dets = head.predict(feats, samples, rescale=False)
    for a, b in zip(train_dets, eval_dets):
        assert len(a) > 0
        torch.testing.assert_close(a.bboxes, b.bboxes)
        torch.testing.assert_close(a.scores, b.scores)
    assert not train_dets[0].bboxes.requires_grad
    # the stock mmdet head shows the bug this class fixes
    stock = _head(FCOSHead)
    stock.load_state_dict(head.state_dict())
    stock.train()
    _, stock_dets = stock.loss_and_predict(feats, samples, proposal_cfg=TEST_CFG)
    assert stock_dets[0].bboxes[:, 2:].sub(stock_dets[0].bboxes[:, :2]).max() < \
        0.5 * train_dets[0].bboxes[:, 2:].sub(train_dets[0].bboxes[:, :2]).max()


@pytest.mark.parametrize('num_gts', [(2, 1), (0, 0)])
def test_losses_empty_and_nonempty_gt(num_gts):
    head, feats = _head(), _feats()
    head.train()
    losses, _ = head.loss_and_predict(feats, _samples(num_gts), proposal_cfg=TEST_CFG)
    assert losses['loss_cls'] > 0
    if sum(num_gts) == 0:
        assert losses['loss_bbox'] == 0 and losses['loss_centerness'] == 0
    else:
        assert losses['loss_bbox'] > 0 and losses['loss_centerness'] > 0
    sum(losses.values()).backward()
    assert head.conv_cls.weight.grad is not None


def _one_level_outputs():
    """One 2 x 5 level (stride 8) of one class. Class probabilities fall from 0.9 to 0.045 while
    centerness rises, so cls * centerness peaks in the middle: 0.26 (point 5), 0.25 (4), 0.24 (3).
    Point 5 reaches 20 px to its left (x = 4 - 20 = -16), point 4 has zero width."""
    probs = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.045])
    centerness = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.65, 0.7, 0.8, 0.9, 1.0])
    distances = torch.full((10, 4), 4.0)
    distances[5, 0] = 20.0
    distances[4, [0, 2]] = 0.0
    return ([torch.logit(probs).reshape(1, 1, 2, 5)], [distances.t().reshape(1, 4, 2, 5)],
            [torch.logit(centerness).reshape(1, 1, 2, 5)], probs * centerness)


def _one_level_head(**kwargs):
    return CenterMaskFCOSHead(num_classes=1, in_channels=4, feat_channels=4, stacked_convs=0,
                              strides=[8], regress_ranges=((-1, 1e8), ), norm_cfg=None,
                              **kwargs).eval()


def test_pre_nms_candidates_are_the_best_by_cls_times_centerness():
    """centermask2 keeps the nms_pre best by cls * centerness among cls > score_thr (points 5, 4
    and 3 here); mmdet would keep the best by cls alone (points 0, 1 and 2)."""
    cls_scores, bbox_preds, centernesses, products = _one_level_outputs()
    cfg = ConfigDict(nms_pre=3, score_thr=0.05, min_bbox_size=-1, max_per_img=100,
                     nms=dict(type='nms', iou_threshold=0.6))
    meta = dict(img_shape=(16, 40), scale_factor=(1.0, 1.0))
    ours, = _one_level_head(bbox_coder=dict(type='DistancePointBBoxCoder', clip_border=False)) \
        .predict_by_feat(cls_scores, bbox_preds, centernesses, batch_img_metas=[meta], cfg=cfg,
                         with_nms=False)
    torch.testing.assert_close(ours.scores, products[[5, 4, 3]].sqrt())
    # point 5 at (4, 12) keeps its unclipped box; point 4 at (36, 4) keeps zero width
    torch.testing.assert_close(ours.bboxes[:2], torch.tensor([[-16., 8., 8., 16.],
                                                              [36., 0., 36., 8.]]))
    theirs, = FCOSHead(num_classes=1, in_channels=4, feat_channels=4, stacked_convs=0,
                       strides=[8], regress_ranges=((-1, 1e8), ), norm_cfg=None).eval() \
        .predict_by_feat(cls_scores, bbox_preds, centernesses, batch_img_metas=[meta], cfg=cfg,
                         with_nms=False)
    torch.testing.assert_close(theirs.scores, products[[0, 1, 2]])


def test_clipping_and_zero_size_filter_follow_the_config():
    cls_scores, bbox_preds, centernesses, _ = _one_level_outputs()
    meta = dict(img_shape=(16, 40), scale_factor=(1.0, 1.0))
    cfg = ConfigDict(nms_pre=3, score_thr=0.05, min_bbox_size=0, max_per_img=100,
                     nms=dict(type='nms', iou_threshold=0.6))
    out, = _one_level_head().predict_by_feat(cls_scores, bbox_preds, centernesses,
                                             batch_img_metas=[meta], cfg=cfg, with_nms=False)
    # mmdet's defaults: boxes clipped at decoding, the zero-width box dropped
    assert len(out) == 2
    torch.testing.assert_close(out.bboxes[0], torch.tensor([0., 8., 8., 16.]))
