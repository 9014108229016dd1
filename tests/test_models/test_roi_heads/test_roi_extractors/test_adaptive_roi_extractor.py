"""AdaptiveRoIExtractor: CenterMask Equation 2 level assignment and RoIAlign pooling.

Expected levels are worked out by hand from the rule "RoI area > 1/2 of the image -> k_max,
(1/4, 1/2] -> k_max - 1, ..., clamped to k_min"; pooled features are checked against
``mmcv.ops.roi_align`` called directly on the expected level.
"""
import pytest
import torch
from mmcv.ops import roi_align
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.registry import MODELS

from mmdet_centermask.models.roi_heads.roi_extractors import AdaptiveRoIExtractor

CHANNELS = 4
IMG_H, IMG_W = 80, 120  # area 9600; padded batch of the same size unless said otherwise


def make_feats(strides, height=IMG_H, width=IMG_W, requires_grad=False):
    return tuple(
        torch.randn(2, CHANNELS, -(-height // s), -(-width // s), requires_grad=requires_grad)
        for s in strides)


def make_extractor(strides=(8, 16, 32), output_size=14):
    return MODELS.build(
        dict(type='AdaptiveRoIExtractor',
             roi_layer=dict(type='RoIAlign', output_size=output_size, sampling_ratio=0,
                            aligned=True),
             out_channels=CHANNELS,
             featmap_strides=list(strides)))


def boxes_to_rois(boxes, batch_inds=None):
    boxes = torch.tensor(boxes, dtype=torch.float32)
    if batch_inds is None:
        batch_inds = [0] * len(boxes)
    return torch.cat([torch.tensor(batch_inds, dtype=torch.float32)[:, None], boxes], dim=1)


def reference_pool(feats, strides, rois, levels, output_size=14):
    """Pool each RoI with mmcv's roi_align on the given level index."""
    return torch.cat([
        roi_align(feats[lvl], roi[None], (output_size, output_size), 1.0 / strides[lvl], 0,
                  'avg', True) for roi, lvl in zip(rois, levels)
    ])


def test_defaults_are_centermask():
    extractor = AdaptiveRoIExtractor()
    assert extractor.featmap_strides == (8, 16, 32)
    assert (extractor.min_level, extractor.max_level) == (3, 5)
    assert extractor.out_channels == 256
    for layer, stride in zip(extractor.roi_layers, (8, 16, 32)):
        assert layer.output_size == (14, 14)
        assert layer.sampling_ratio == 0
        assert layer.aligned
        assert layer.spatial_scale == 1.0 / stride


@pytest.mark.parametrize('strides', [(8, 16, 64), (6, 12, 24), (16, 8)])
def test_strides_must_be_consecutive_powers_of_two(strides):
    with pytest.raises(AssertionError):
        make_extractor(strides)


def test_equation2_boundaries_p3_p5():
    # Image 80 x 120, area 9600: 1/4 = 2400 = 40 x 60, 1/2 = 4800 = 60 x 80.
    boxes = [
        [10, 10, 50, 70],  # 40 x 60, exactly 1/4 -> P3
        [10, 10, 50.5, 70],  # 40.5 x 60 = 2430 > 1/4 -> P4
        [0, 0, 60, 80],  # 60 x 80, exactly 1/2 -> P4
        [0, 0, 60.5, 80],  # 60.5 x 80 = 4840 > 1/2 -> P5
        [5, 5, 6, 6],  # 1 px -> P3
        [-10, -10, 130, 90],  # 140 x 100, larger than the image -> P5
        [0, 0, 120, 80],  # the whole image -> P5
    ]
    extractor = make_extractor()
    levels = extractor.map_roi_levels(boxes_to_rois(boxes), torch.tensor(float(IMG_H * IMG_W)))
    assert levels.tolist() == [0, 1, 1, 2, 0, 2, 2]


def test_equation2_mask_rcnn_p2_p5():
    # Strides 4..32: k in [2, 5]; 1/8 of 9600 = 1200 = 30 x 40.
    extractor = make_extractor((4, 8, 16, 32))
    assert (extractor.min_level, extractor.max_level) == (2, 5)
    boxes = [
        [0, 0, 2, 2],  # tiny -> P2
        [0, 0, 30, 40],  # exactly 1/8 -> P2
        [0, 0, 30.5, 40],  # just above 1/8 -> P3
        [0, 0, 40, 60],  # exactly 1/4 -> P3
        [0, 0, 60, 80],  # exactly 1/2 -> P4
        [0, 0, 60.5, 80],  # just above 1/2 -> P5
    ]
    levels = extractor.map_roi_levels(boxes_to_rois(boxes), torch.tensor(float(IMG_H * IMG_W)))
    assert levels.tolist() == [0, 0, 1, 1, 2, 3]


def test_equation2_differs_from_equation1():
    # A 224 x 224 box in an 800 x 1333 input: Eq. 1 (finest_scale 56) picks index 2 of four
    # levels (P4 of P2-P5); Eq. 2 picks the finest level P3 of P3-P5 (and P2 of P2-P5).
    rois = boxes_to_rois([[100, 100, 324, 324]])
    eq1 = SingleRoIExtractor(
        dict(type='RoIAlign', output_size=7, sampling_ratio=0), 256, [4, 8, 16, 32])
    assert eq1.map_roi_levels(rois, 4).tolist() == [2]
    img_area = torch.tensor(800.0 * 1333.0)
    assert make_extractor().map_roi_levels(rois, img_area).tolist() == [0]
    assert make_extractor((4, 8, 16, 32)).map_roi_levels(rois, img_area).tolist() == [0]


def test_pooled_features_match_roi_align_on_chosen_level():
    strides = (8, 16, 32)
    feats = make_feats(strides)
    boxes = [[10, 10, 50, 70], [10, 10, 50.5, 70], [0, 0, 60.5, 80], [20.3, 7.1, 33.9, 19.6]]
    rois = boxes_to_rois(boxes, [0, 1, 0, 1])
    img_shapes = [(IMG_H, IMG_W), (IMG_H, IMG_W)]
    out = make_extractor(strides)(feats, rois, img_shapes=img_shapes)
    assert out.shape == (4, CHANNELS, 14, 14)
    expected = reference_pool(feats, strides, rois, [0, 1, 2, 0])
    torch.testing.assert_close(out, expected)


def test_per_image_shapes_in_one_batch():
    # The same 40 x 60 box is 1/4 of image 0 (80 x 120 -> P3) and 1/2 of image 1 (60 x 80 -> P4).
    strides = (8, 16, 32)
    feats = make_feats(strides)
    rois = boxes_to_rois([[10, 10, 50, 70], [10, 10, 50, 70]], [0, 1])
    extractor = make_extractor(strides)
    img_shapes = [(IMG_H, IMG_W), (60, 80)]
    assert extractor.roi_img_areas(feats, rois, img_shapes).tolist() == [9600.0, 4800.0]
    out = extractor(feats, rois, img_shapes=img_shapes)
    torch.testing.assert_close(out, reference_pool(feats, strides, rois, [0, 1]))


def test_padded_area_fallback_without_img_shapes():
    # Without img_shapes the padded batch input, 10 x 15 cells of stride 8 = 80 x 120, is used.
    strides = (8, 16, 32)
    feats = make_feats(strides)
    rois = boxes_to_rois([[10, 10, 50, 70], [10, 10, 50, 70]], [0, 1])
    extractor = make_extractor(strides)
    assert extractor.roi_img_areas(feats, rois, None).item() == 9600.0
    out = extractor(feats, rois)
    torch.testing.assert_close(out, reference_pool(feats, strides, rois, [0, 0]))
    # A smaller unpadded image inside the same batch moves the box up one level.
    out = extractor(feats, rois, img_shapes=[(IMG_H, IMG_W), (60, 80)])
    torch.testing.assert_close(out, reference_pool(feats, strides, rois, [0, 1]))


def test_mask_rcnn_strides_forward():
    strides = (4, 8, 16, 32)
    feats = make_feats(strides)
    rois = boxes_to_rois([[0, 0, 2, 2], [0, 0, 30.5, 40], [0, 0, 60, 80], [0, 0, 60.5, 80]])
    out = make_extractor(strides, output_size=7)(feats, rois, img_shapes=[(IMG_H, IMG_W)] * 2)
    torch.testing.assert_close(out, reference_pool(feats, strides, rois, [0, 1, 2, 3], 7))


def test_levels_assigned_before_roi_scale_factor():
    # [10, 10, 50, 70] is 1/4 of the image -> P3; scaled by 2 around its centre (30, 40) it is
    # [-10, -20, 70, 100] (the whole image and more) but is still pooled from P3, as in mmdet.
    strides = (8, 16, 32)
    feats = make_feats(strides)
    rois = boxes_to_rois([[10, 10, 50, 70]])
    out = make_extractor(strides)(feats, rois, roi_scale_factor=2.0, img_shapes=[(IMG_H, IMG_W)])
    expected = reference_pool(feats, strides, boxes_to_rois([[-10, -20, 70, 100]]), [0])
    torch.testing.assert_close(out, expected)


def test_degenerate_boxes():
    strides = (8, 16, 32)
    feats = make_feats(strides)
    boxes = [
        [30, 30, 30, 50],  # zero width
        [30, 30, 30, 30],  # a point
        [50, 40, 10, 70],  # inverted x
        [110, 75, 5, 2],  # inverted x and y: the raw product 105 * 73 would be > 1/2
        [-500, -400, -100, -50],  # outside the image, larger than it
        [200, 150, 210, 160],  # outside the image, small
        [-1e4, -1e4, 1e4, 1e4],  # huge
    ]
    rois = boxes_to_rois(boxes)
    extractor = make_extractor(strides)
    levels = extractor.map_roi_levels(rois, torch.tensor(float(IMG_H * IMG_W)))
    assert levels.tolist() == [0, 0, 0, 0, 2, 0, 2]
    out = extractor(feats, rois, img_shapes=[(IMG_H, IMG_W)])
    assert out.shape == (7, CHANNELS, 14, 14)
    assert torch.isfinite(out).all()


def test_empty_rois():
    feats = make_feats((8, 16, 32), requires_grad=True)
    out = make_extractor()(feats, torch.zeros(0, 5), img_shapes=[(IMG_H, IMG_W)] * 2)
    assert out.shape == (0, CHANNELS, 14, 14)
    out.sum().backward()
    assert all(feat.grad is not None for feat in feats)


def test_gradient_reaches_every_level():
    # All RoIs go to P3; P4 and P5 stay in the graph through the zero-weighted sum.
    feats = make_feats((8, 16, 32), requires_grad=True)
    rois = boxes_to_rois([[10, 10, 30, 30], [40, 20, 60, 50]])
    out = make_extractor()(feats, rois, img_shapes=[(IMG_H, IMG_W)])
    out.sum().backward()
    assert feats[0].grad.abs().sum() > 0
    for feat in feats[1:]:
        assert feat.grad is not None
        assert torch.count_nonzero(feat.grad) == 0
