"""``mmdet_centermask.structures.mask_rle``: masks pasted straight into COCO RLE equal
pycocotools' encoding of the full bitmaps mmdet pastes."""
import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch

from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
from mmdet_centermask.structures import paste_masks_as_rle, region_to_rle


def full_mask(region: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[top:top + region.shape[0], left:left + region.shape[1]] = region
    return mask


@pytest.mark.parametrize('top,left,rows,cols', [
    (3, 4, 5, 6),    # inside
    (0, 0, 9, 6),    # at the top left corner, the mask's first pixel set
    (2, 7, 7, 5),    # to the bottom right corner, the last pixel set
    (0, 0, 9, 12),   # the whole mask
    (4, 11, 1, 1),   # one pixel in the last column
])
def test_region_rle_is_the_encoding_of_the_full_mask(top, left, rows, cols):
    rng = np.random.default_rng(top * 100 + left)
    for region in (rng.random((rows, cols)) > 0.5, np.ones((rows, cols), bool),
                   np.zeros((rows, cols), bool)):
        mask = full_mask(region, top, left, 9, 12)
        expected = mask_util.encode(np.asfortranarray(mask))
        assert region_to_rle(region, top, left, 9, 12) == expected
        assert np.array_equal(mask_util.decode(region_to_rle(region, top, left, 9, 12)), mask)


def test_region_outside_the_mask_is_named():
    with pytest.raises(ValueError, match='a 3x4 region at \\(7, 0\\) is not inside a 9x12 mask'):
        region_to_rle(np.ones((3, 4), bool), 7, 0, 9, 12)


def test_pasted_rle_is_mmdets_pasted_bitmap_encoded():
    """mmdet's paste of the whole image (``skip_empty=False``) binarised, against ours; boxes
    inside, across the border (clipped by the paste) and a thin one."""
    generator = torch.Generator().manual_seed(0)
    probs = torch.rand(4, 28, 28, generator=generator)
    boxes = torch.tensor([[10.3, 5.2, 50.8, 40.1], [-5., 30., 20., 70.], [60., 0., 90., 61.],
                          [33., 44., 34.5, 58.]])
    rles = paste_masks_as_rle(probs, boxes, (61, 90), threshold=0.5)
    for prob, box, rle in zip(probs, boxes, rles):
        pasted, _ = _do_paste_mask(prob[None, None], box[None], 61, 90, skip_empty=False)
        bitmap = (pasted[0] >= 0.5).numpy().astype(np.uint8)
        assert bitmap.any()
        assert rle == mask_util.encode(np.asfortranarray(bitmap))


def test_negative_threshold_is_refused():
    with pytest.raises(ValueError, match='mask_thr_binary=-1'):
        paste_masks_as_rle(torch.rand(1, 28, 28), torch.tensor([[0., 0., 5., 5.]]), (8, 8), -1)
