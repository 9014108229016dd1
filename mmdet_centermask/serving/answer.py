"""What the server answers for one image."""
from typing import List, Tuple

import numpy as np
import pycocotools.mask as mask_util
import torch

from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures import DetDataSample
from mmdet.structures.mask import encode_mask_results
from ..apis import prediction_record


def panoptic_segments(sem_seg: np.ndarray, classes: Tuple[str, ...]) -> List[dict]:
    """The segments of a panoptic map (mmdet's encoding: ``label + k * INSTANCE_OFFSET`` for
    the ``k``-th thing instance, ``k >= 1``; the stuff label for stuff; ``len(classes)`` for void,
    left out): ``id`` (the map's value), ``category``, ``isthing``, ``area`` and ``mask`` (COCO
    RLE, text ``counts``), in increasing ``id``."""
    segments = []
    for value in np.unique(sem_seg):
        if value == len(classes):
            continue
        mask = sem_seg == value
        rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
        segments.append(dict(id=int(value), category=classes[value % INSTANCE_OFFSET],
                             isthing=bool(value >= INSTANCE_OFFSET), area=int(mask.sum()),
                             mask=dict(size=list(rle['size']), counts=rle['counts'].decode())))
    return segments


def image_answer(sample: DetDataSample, classes: Tuple[str, ...]) -> dict:
    """The detections of one image at its original size: ``height``, ``width``, xyxy
    ``bboxes``, ``labels`` with their ``classes`` names, box ``scores``, ``mask_scores`` and
    ``masks`` as COCO RLE (text ``counts``; ``pycocotools.mask.decode`` reads them). A
    Panoptic-CenterMask's answer adds ``panoptic_segments`` (:func:`panoptic_segments`); its
    instance masks come as bitmaps and are encoded here."""
    pred = sample.pred_instances
    if 'masks' in pred and isinstance(pred.masks, torch.Tensor):
        pred.masks = encode_mask_results(pred.masks.cpu().numpy())
    record = prediction_record(0, sample)
    del record['img_id']
    height, width = sample.ori_shape[:2]
    answer = dict(height=height, width=width, classes=[classes[i] for i in record['labels']],
                  **record)
    if 'pred_panoptic_seg' in sample:
        answer['panoptic_segments'] = panoptic_segments(
            sample.pred_panoptic_seg.sem_seg[0].cpu().numpy(), classes)
    return answer
