"""Instance masks pasted straight into COCO run-length encoding, one at a time: a result never
holds N full-size bitmaps (100 masks of a 4000x3000 photo are 1.2 GB as booleans, their RLE a few
hundred kilobytes)."""
from typing import List, Tuple

import numpy as np
import pycocotools.mask as mask_util
from torch import Tensor

from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask


def region_to_rle(region: np.ndarray, top: int, left: int, height: int, width: int) -> dict:
    """COCO RLE of a ``height x width`` mask that is ``region`` at ``(top, left)`` and empty
    elsewhere, computed on the region's columns only (COCO RLE runs down the columns).

    Args:
        region (np.ndarray): Bool or 0/1 array ``(h, w)``, inside the mask.
        top (int): Row of its first row in the mask.
        left (int): Column of its first column in the mask.
        height (int): Height of the mask.
        width (int): Width of the mask.

    Returns:
        dict: ``size`` ``[height, width]`` and compressed ``counts`` (bytes), as
        ``pycocotools.mask.encode`` gives them.
    """
    rows, cols = region.shape
    if top < 0 or left < 0 or top + rows > height or left + cols > width:
        raise ValueError(f'a {rows}x{cols} region at ({top}, {left}) is not inside a '
                         f'{height}x{width} mask')
    strip = np.zeros((height, cols), np.uint8)
    strip[top:top + rows] = region
    flat = strip.ravel(order='F')
    # the lengths of alternating runs of 0s and 1s, the first one of 0s (maybe empty)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]]))
    if flat.size and flat[0]:
        counts = np.concatenate([[0], counts])
    # the empty columns before and after the region
    counts[0] += left * height
    after = (width - left - cols) * height
    if len(counts) % 2:  # the last run is of 0s
        counts[-1] += after
    elif after:
        counts = np.concatenate([counts, [after]])
    return mask_util.frPyObjects(dict(counts=counts.tolist(), size=[height, width]), height,
                                 width)


def paste_masks_as_rle(mask_probs: Tensor, boxes: Tensor, out_shape: Tuple[int, int],
                       threshold: float) -> List[dict]:
    """Paste each mask into its box of an ``out_shape`` image, binarise it and encode it.

    The same pixels as mmdet's ``FCNMaskHead`` pastes on the CPU (``_do_paste_mask`` one mask
    at a time, in the box's region only), encoded as ``mmdet.structures.mask.
    encode_mask_results`` encodes its bitmaps; only one region is held at a time.

    Args:
        mask_probs (Tensor): Mask probabilities ``(n, 28, 28)``.
        boxes (Tensor): Boxes ``(n, 4)`` in ``out_shape`` pixels.
        out_shape (tuple[int, int]): ``(h, w)`` of the image.
        threshold (float): Binarisation threshold (``mask_thr_binary``), at least 0.

    Returns:
        list[dict]: COCO RLE of each mask.
    """
    if threshold < 0:
        raise ValueError(f'mask_thr_binary={threshold}: RLE masks are binary, a threshold of '
                         'at least 0 is needed')
    height, width = (int(size) for size in out_shape)
    rles = []
    for probs, box in zip(mask_probs, boxes):
        pasted, (rows, cols) = _do_paste_mask(probs[None, None], box[None], height, width,
                                              skip_empty=True)
        region = (pasted[0] >= threshold).numpy()
        rles.append(region_to_rle(region, int(rows.start), int(cols.start), height, width))
    return rles
