"""CenterMaskIoUHead and the polygon targets: centermask2's area ratio, clamps and init."""
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet.models.roi_heads.mask_heads import MaskIoUHead
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmdet_centermask.models.roi_heads.mask_heads import CenterMaskIoUHead
from mmdet_centermask.models.roi_heads.mask_heads.polygon_targets import (
    polygon_area_in_box, rasterize_polygons_in_box)

# pycocotools puts a polygon edge on the nearest pixel boundary (.5 rounds up): a square
# x, y in [0, 10] has 100 pixels, and moved by -5.6 in x its edges fall at 0 (cut) and 4.4 -> 4.
SQUARE = np.array([0., 0., 10., 0., 10., 10., 0., 10.])


def _head(**kwargs) -> CenterMaskIoUHead:
    return CenterMaskIoUHead(num_convs=1, num_fcs=1, roi_feat_size=4, in_channels=2,
                             conv_out_channels=2, fc_out_channels=4, num_classes=1, **kwargs)


def test_polygon_area_in_a_box_that_cuts_it():
    # box x from 5.6: the polygon moves to x in [-5.6, 4.4] on a 14 x 10 canvas -> 4 x 10 pixels
    box = np.array([5.6, 0., 20., 10.], dtype=np.float32)
    assert polygon_area_in_box([SQUARE], box) == 40.0
    # two parts count separately, as pycocotools' area of each RLE in the reference
    assert polygon_area_in_box([SQUARE, SQUARE], box) == 80.0
    # a box narrower than a pixel gives a canvas of width 0: no area
    assert polygon_area_in_box([SQUARE], np.array([3., 0., 3.9, 10.], np.float32)) == 0.0


def test_area_ratio_of_polygons_against_mmdet_integer_crop():
    masks = PolygonMasks([[SQUARE]], 20, 30)
    boxes = torch.tensor([[5.6, 0., 20., 10.]])
    ours = _head()._get_area_ratio(boxes, torch.tensor([0]), masks)
    theirs = MaskIoUHead()._get_area_ratio(boxes, torch.tensor([0]), masks)
    torch.testing.assert_close(ours, torch.tensor([0.4]))  # 40 of the shoelace area 100
    torch.testing.assert_close(theirs, torch.tensor([0.5]))  # mmdet crops at int(5.6) = 5
    # bitmaps keep mmdet's path
    bitmaps = BitmapMasks(masks.to_ndarray(), 20, 30)
    torch.testing.assert_close(_head()._get_area_ratio(boxes, torch.tensor([0]), bitmaps),
                               theirs)


def test_targets_clamp_the_ratio_and_the_union():
    """A square with edges at 0.4 and 9.6 has shoelace area 84.64 but rasterises to 100 pixels:
    the ratio 1.18 is clamped to 1 (centermask2), so the GT area is the 28x28 target's."""
    polygon = np.array([0.4, 0.4, 9.6, 0.4, 9.6, 9.6, 0.4, 9.6])
    gt = InstanceData(masks=PolygonMasks([[polygon]], 20, 20))
    res = InstanceData(pos_priors=torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 10.]]),
                       pos_assigned_gt_inds=torch.tensor([0, 0]))
    head = _head()
    ratio = head._get_area_ratio(res.pos_priors, res.pos_assigned_gt_inds, gt.masks)
    torch.testing.assert_close(ratio, torch.full((2, ), 100 / 84.64))
    targets = torch.zeros(2, 28, 28)
    targets[0, :, :14] = 1  # 392 target pixels
    logits = torch.full((2, 28, 28), -1.0)
    logits[0, :, 7:21] = 1.0  # 392 predicted pixels, 196 of them on the target
    iou = head.get_targets([res], [gt], logits, targets, ConfigDict(mask_thr_binary=0.0))
    # union 392 + 392 / 1 - 196 = 588; the second RoI has an empty union, clamped to 1 -> 0
    torch.testing.assert_close(iou, torch.tensor([196 / 588, 0.0]))


def test_fully_connected_layers_start_kaiming_fan_out():
    torch.manual_seed(0)
    head = CenterMaskIoUHead(num_classes=3)
    head.init_weights()
    fc = head.fcs[0].weight  # 1024 x (256 * 7 * 7): fan_out 1024, std sqrt(2 / 1024)
    assert fc.std().item() == pytest.approx((2 / 1024)**0.5, rel=0.02)
    assert head.fcs[1].weight.std().item() == pytest.approx((2 / 1024)**0.5, rel=0.02)
    assert torch.all(head.fcs[0].bias == 0)


def test_rasterized_targets_follow_detectron2_for_boxes_below_a_pixel():
    # a box 0.5 wide: detectron2 scales by 28 / 0.5 (the polygon spans the whole target), mmdet
    # widens the box to 1 first (the polygon covers the left half)
    polygon = np.array([2., 0., 2.5, 0., 2.5, 10., 2., 10.])
    box = np.array([2., 0., 2.5, 10.], dtype=np.float32)
    target = rasterize_polygons_in_box([polygon], box, 28)
    assert target.all()
    mmdet = PolygonMasks([[polygon]], 20, 20).crop_and_resize(
        box[None], (28, 28), inds=np.array([0])).to_ndarray()[0]
    assert mmdet[:, :14].all() and not mmdet[:, 14:].any()
