"""Tiny datasets written to disk for tests: COCO instances (squares and bars), the
custom-dataset guide's layout, and a short video clip."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np


TINY_COCO_IMAGE_SIZE = 128
# (x, y, w, h, category id) per image of write_tiny_coco: squares (1) and bars (2)
TINY_COCO_BOXES = [
    [(16, 16, 40, 40, 1)],
    [(60, 20, 48, 16, 2)],
    [(8, 60, 32, 32, 1), (72, 80, 40, 12, 2)],
    [(40, 40, 60, 60, 1)],
]


def write_tiny_coco(root: Path) -> None:
    """Write a toy COCO-format dataset to ``root``: ``images/`` with four noisy 128x128 images of
    filled squares (category 1) and bars (category 2), and ``annotations/instances.json`` with
    their boxes and polygon masks."""
    rng = np.random.default_rng(0)
    (root / 'images').mkdir(parents=True)
    (root / 'annotations').mkdir()
    size = TINY_COCO_IMAGE_SIZE
    images, annotations = [], []
    for image_id, boxes in enumerate(TINY_COCO_BOXES, start=1):
        image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        file_name = f'{image_id:04d}.jpg'
        for x, y, w, h, category_id in boxes:
            image[y : y + h, x : x + w] = (40, 200, 40) if category_id == 1 else (200, 40, 40)
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=category_id,
                    bbox=[x, y, w, h],
                    area=w * h,
                    iscrowd=0,
                    segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]],
                )
            )
        cv2.imwrite(str(root / 'images' / file_name), image)
        images.append(dict(id=image_id, file_name=file_name, width=size, height=size))
    categories = [dict(id=1, name='square'), dict(id=2, name='bar')]
    (root / 'annotations' / 'instances.json').write_text(
        json.dumps(dict(images=images, annotations=annotations, categories=categories))
    )


def write_my_dataset(root: Path) -> None:
    """The tiny COCO dataset (squares and bars) as data/my_dataset/ with train and val jsons."""
    write_tiny_coco(root / 'data' / 'my_dataset')
    annotations = root / 'data' / 'my_dataset' / 'annotations'
    for split in ('train', 'val'):
        shutil.copy(annotations / 'instances.json', annotations / f'{split}.json')


CLIP_FRAMES, CLIP_HEIGHT, CLIP_WIDTH, CLIP_FPS = 4, 96, 128, 10.0


def write_clip(path: Path) -> None:
    """A short mp4 clip of a coloured square moving over noise."""
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), CLIP_FPS,
                             (CLIP_WIDTH, CLIP_HEIGHT))
    for i in range(CLIP_FRAMES):
        frame = rng.integers(0, 80, (CLIP_HEIGHT, CLIP_WIDTH, 3), dtype=np.uint8)
        frame[20:60, 10 + 15 * i:50 + 15 * i] = (40, 200, 40)
        writer.write(frame)
    writer.release()
