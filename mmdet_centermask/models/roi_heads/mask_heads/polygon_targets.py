"""Mask-branch targets from polygon ground truth, computed as centermask2 computes them.

mmdet's :class:`PolygonMasks` path differs in two places: ``crop_and_resize`` widens boxes
narrower than 1 pixel to 1 before scaling, and :class:`MaskIoUHead` crops the polygon with shapely
to the box cast to integers. centermask2 scales by ``mask_size / max(side, 0.1)`` (detectron2
``rasterize_polygons_within_box``) and measures the part of the polygon inside the float box by
rasterising it on a canvas at the box origin (``centermask/modeling/centermask/mask_head.py``).
"""
from typing import List

import numpy as np
import pycocotools.mask as mask_utils


def rasterize_polygons_in_box(polygons: List[np.ndarray], box: np.ndarray,
                              mask_size: int) -> np.ndarray:
    """The polygons of one instance cut to ``box`` and rasterised at ``mask_size`` squared.

    Args:
        polygons (list[ndarray]): Flat ``[x0, y0, x1, y1, ...]`` polygons in image pixels.
        box (ndarray): ``(x1, y1, x2, y2)``, float32; may extend beyond the image.
        mask_size (int): Side of the target.

    Returns:
        ndarray: bool mask (mask_size, mask_size).
    """
    if len(polygons) == 0:
        return np.zeros((mask_size, mask_size), dtype=bool)
    w, h = box[2] - box[0], box[3] - box[1]
    scale_w, scale_h = mask_size / max(w, 0.1), mask_size / max(h, 0.1)
    scaled = []
    for polygon in polygons:
        polygon = np.array(polygon, dtype=np.float64)
        polygon[0::2] = (polygon[0::2] - box[0]) * scale_w
        polygon[1::2] = (polygon[1::2] - box[1]) * scale_h
        scaled.append(polygon)
    rle = mask_utils.merge(mask_utils.frPyObjects(scaled, mask_size, mask_size))
    return mask_utils.decode(rle).astype(bool)


def polygon_area_in_box(polygons: List[np.ndarray], box: np.ndarray) -> float:
    """Area of the polygons of one instance inside ``box``, as centermask2 measures it.

    Each polygon is moved to the box origin and rasterised on a canvas of the box's size,
    truncated to whole pixels (pycocotools takes integer sizes); the pixel areas of the
    polygons are summed (overlapping parts count twice, as in the reference).

    Args:
        polygons (list[ndarray]): Flat polygons in image pixels.
        box (ndarray): ``(x1, y1, x2, y2)``, float32.

    Returns:
        float: The area in pixels.
    """
    canvas_h, canvas_w = int(box[3] - box[1]), int(box[2] - box[0])
    if len(polygons) == 0 or canvas_h <= 0 or canvas_w <= 0:
        return 0.0
    shifted = []
    for polygon in polygons:
        polygon = np.array(polygon, dtype=np.float64)
        polygon[0::2] -= box[0]
        polygon[1::2] -= box[1]
        shifted.append(polygon)
    return float(mask_utils.area(mask_utils.frPyObjects(shifted, canvas_h, canvas_w)).sum())
