"""What the server answers for one image."""
from typing import Tuple

from mmdet.structures import DetDataSample
from ..apis import prediction_record


def image_answer(sample: DetDataSample, classes: Tuple[str, ...]) -> dict:
    """The detections of one image at its original size: ``height``, ``width``, xyxy
    ``bboxes``, ``labels`` with their ``classes`` names, box ``scores``, ``mask_scores`` and
    ``masks`` as COCO RLE (text ``counts``; ``pycocotools.mask.decode`` reads them)."""
    record = prediction_record(0, sample)
    del record['img_id']
    height, width = sample.ori_shape[:2]
    return dict(height=height, width=width, classes=[classes[i] for i in record['labels']],
                **record)
