"""CenterMaskRoIHead.finalize_detections: detectron2's detector_postprocess after the mask
branch (boxes rescaled, clipped, empty ones dropped, masks pasted into the clipped boxes)."""
import pycocotools.mask as mask_util
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures.mask import encode_mask_results
from mmdet_centermask.models.roi_heads import CenterMaskRoIHead

# input image 40 x 60, original 80 x 120 (scale 0.5)
IMG_META = dict(img_shape=(40, 60), ori_shape=(80, 120), scale_factor=(0.5, 0.5))


def build_head(paste_masks_into: str = 'clipped_boxes',
               mask_format: str = 'bitmap') -> CenterMaskRoIHead:
    return MODELS.build(
        dict(
            type='CenterMaskRoIHead',
            mask_roi_extractor=dict(
                type='AdaptiveRoIExtractor',
                roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0, aligned=True),
                out_channels=8, featmap_strides=[8, 16, 32]),
            mask_head=dict(type='SAGMaskHead', num_convs=1, in_channels=8, conv_out_channels=8,
                           num_classes=2),
            mask_iou_head=dict(type='CenterMaskIoUHead', num_convs=1, in_channels=8,
                               conv_out_channels=8, fc_out_channels=16, num_classes=2),
            test_cfg=ConfigDict(mask_thr_binary=0.5, paste_masks_into=paste_masks_into,
                                mask_format=mask_format)))


def detections():
    """Box 0 crosses the left border; box 1 lies beyond the right border; box 2 has no height."""
    results = InstanceData()
    results.bboxes = torch.tensor([[-10., 5., 30., 25.], [61., 5., 70., 25.], [5., 7., 9., 7.]])
    results.scores = torch.tensor([0.9, 0.8, 0.7])
    results.labels = torch.tensor([1, 0, 0])
    results.mask_scores = torch.tensor([0.45, 0.4, 0.35])
    # class 1 of box 0: the left half of the 28 x 28 mask is foreground
    mask_preds = torch.full((3, 2, 28, 28), -10.0)
    mask_preds[0, 1, :, :14] = 10.0
    return results, mask_preds


@pytest.mark.parametrize('mode,columns', [('clipped_boxes', 30), ('predicted_boxes', 20)])
def test_border_box_is_clipped_and_its_mask_pasted_by_mode(mode, columns):
    """Box 0 rescaled is x in [-20, 60], y in [10, 50]; clipped x in [0, 60]. Pasted into the
    clipped box (detectron2), the left half of the mask covers x in [0, 30): pixel 29 samples the
    mask at column (29.5 / 60) * 28 - 0.5 = 13.27 (value 0.73), pixel 30 at 13.73 (0.27). Pasted
    into the predicted box, the half ends at x = 20: pixel 19 samples (39.5 / 80) * 28 - 0.5 =
    13.33. Rows: pixel 10 samples row -0.15 (0.85 of row 0), pixel 49 row 27.15, pixel 9 row
    -0.85 (0.15): rows 10..49."""
    results, mask_preds = detections()
    out = build_head(mode).finalize_detections(results, mask_preds, IMG_META, rescale=True)
    assert len(out) == 1  # beyond the border and zero-height boxes are dropped
    torch.testing.assert_close(out.bboxes, torch.tensor([[0., 10., 60., 50.]]))
    torch.testing.assert_close(out.scores, torch.tensor([0.9]))
    torch.testing.assert_close(out.mask_scores, torch.tensor([0.45]))
    assert out.masks.shape == (1, 80, 120) and out.masks.dtype == torch.bool
    expected = torch.zeros(80, 120, dtype=torch.bool)
    expected[10:50, :columns] = True
    assert torch.equal(out.masks[0], expected)


def test_without_rescale_boxes_are_clipped_to_the_input_image():
    results, mask_preds = detections()
    out = build_head().finalize_detections(results, mask_preds, IMG_META, rescale=False)
    torch.testing.assert_close(out.bboxes, torch.tensor([[0., 5., 30., 25.]]))
    assert out.masks.shape == (1, 40, 60)


def test_all_detections_dropped_gives_empty_masks():
    results, mask_preds = detections()
    out = build_head().finalize_detections(results[1:], mask_preds[1:], IMG_META, rescale=True)
    assert len(out) == 0 and out.masks.shape == (0, 80, 120)


def test_unknown_paste_mode_is_named():
    with pytest.raises(ValueError, match="paste_masks_into='clipped'"):
        build_head('clipped')


@pytest.mark.parametrize('mode', ['clipped_boxes', 'predicted_boxes'])
def test_rle_masks_are_the_bitmaps_encoded(mode):
    """``mask_format='rle'``: the same detections, each mask the COCO RLE of its bitmap (random
    logits, so that the masks have ragged borders), on the original and the input image."""
    results, _ = detections()
    results.bboxes[1] = torch.tensor([40., 2., 58., 39.])  # inside: two masks, not one
    mask_preds = torch.randn(3, 2, 28, 28, generator=torch.Generator().manual_seed(0)) * 4
    for rescale in (True, False):
        bitmaps = build_head(mode).finalize_detections(results.clone(), mask_preds, IMG_META,
                                                       rescale=rescale)
        rles = build_head(mode, 'rle').finalize_detections(results.clone(), mask_preds,
                                                           IMG_META, rescale=rescale)
        assert len(bitmaps) == 2 and torch.equal(rles.bboxes, bitmaps.bboxes)
        assert isinstance(rles.masks, list) and len(rles.masks) == 2
        assert rles.masks == encode_mask_results(bitmaps.masks.numpy())
        assert all(0 < mask_util.area(rle) < 40 * 60 for rle in rles.masks)


def test_rle_masks_of_no_detection_are_an_empty_list():
    results, mask_preds = detections()
    out = build_head(mask_format='rle').finalize_detections(results[1:], mask_preds[1:],
                                                           IMG_META, rescale=True)
    assert len(out) == 0 and out.masks == []
    head = build_head(mask_format='rle').eval()
    feats = tuple(torch.rand(1, 8, 40 // s + 1, 60 // s + 1) for s in (8, 16, 32))
    with torch.no_grad():
        out, = head.predict_mask(feats, [IMG_META], [results[:0]], rescale=True)
    assert out.masks == []


def test_unknown_mask_format_is_named():
    with pytest.raises(ValueError, match="mask_format='polygon'"):
        build_head(mask_format='polygon')


def test_mask_branch_runs_on_zero_size_boxes():
    """centermask2 keeps zero-size FCOS boxes through RoIAlign and MaskIoU (RoIAlign pools 0)
    and drops them only at the end."""
    head = build_head().eval()
    feats = tuple(torch.rand(1, 8, 40 // s + 1, 60 // s + 1) for s in (8, 16, 32))
    results, _ = detections()
    del results.mask_scores
    with torch.no_grad():
        out, = head.predict_mask(feats, [IMG_META], [results], rescale=True)
    assert len(out) == 1
    assert torch.isfinite(out.mask_scores).all()
