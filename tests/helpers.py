"""Helpers shared by the tests (importable as ``helpers``: pytest puts ``tests/`` on sys.path for
conftest.py)."""

from pathlib import Path
from typing import List, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks, PolygonMasks

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / 'configs'


def load_config(rel_path: str, without_pretrained: bool = True) -> Config:
    """A zoo config with its ImageNet initialisation removed (no weights offline)."""
    cfg = Config.fromfile(str(CONFIG_DIR / rel_path))
    if without_pretrained:
        cfg.model.backbone.init_cfg = None
    return cfg


def make_batch(
    img_shapes: Sequence[Sequence[int]],
    num_gts: Sequence[int],
    num_classes: int = 80,
    mask_type: str = 'polygon',
    scale: float = 1.0,
    box_sizes: Sequence[float] = (),
    seed: int = 0,
) -> dict:
    """A collated batch (``inputs`` uint8 images, ``data_samples``) with random boxes whose masks
    are ellipses inscribed in the boxes, as polygons or bitmaps. ``scale`` is the resize factor
    from the original image (ori_shape = img_shape / scale). ``box_sizes`` fixes the longer side of
    the first boxes of every image (to reach given FCOS levels)."""
    rng = np.random.RandomState(seed)
    inputs: List[torch.Tensor] = []
    samples: List[DetDataSample] = []
    for (h, w), n in zip(img_shapes, num_gts):
        inputs.append(torch.from_numpy(rng.randint(0, 255, (3, h, w), dtype=np.uint8)))
        x1 = rng.uniform(0, w * 0.6, n)
        y1 = rng.uniform(0, h * 0.6, n)
        bw = rng.uniform(12, w * 0.4, n)
        bh = rng.uniform(12, h * 0.4, n)
        for i, size in enumerate(box_sizes[:n]):
            bw[i], bh[i] = size, size * 0.8
            x1[i], y1[i] = rng.uniform(0, w - size), rng.uniform(0, h - size * 0.8)
        boxes = np.stack([x1, y1, np.minimum(x1 + bw, w), np.minimum(y1 + bh, h)], 1).astype(
            np.float32
        )
        polys = []
        for x_a, y_a, x_b, y_b in boxes:
            t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
            cx, cy, rx, ry = (x_a + x_b) / 2, (y_a + y_b) / 2, (x_b - x_a) / 2, (y_b - y_a) / 2
            polys.append([np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1).reshape(-1)])
        masks = PolygonMasks(polys, h, w)
        if mask_type == 'bitmap':
            masks = BitmapMasks(masks.to_ndarray(), h, w)
        gt = InstanceData(
            bboxes=torch.from_numpy(boxes).reshape(-1, 4),
            labels=torch.from_numpy(rng.randint(0, num_classes, n)).long(),
            masks=masks,
        )
        ori_shape = (int(round(h / scale)), int(round(w / scale)))
        sample = DetDataSample(
            metainfo=dict(
                img_id=len(samples),
                img_shape=(h, w),
                ori_shape=ori_shape,
                scale_factor=(w / ori_shape[1], h / ori_shape[0]),
            )
        )
        sample.gt_instances = gt
        sample.ignored_instances = InstanceData(bboxes=torch.zeros((0, 4)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


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
    import json

    import cv2

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


def tool_env(**env: str) -> dict:
    """The environment of a tool subprocess: this one with one OpenMP thread per process (results
    do not depend on the machine's core count, and two processes do not oversubscribe two cores),
    ``PYTHON`` for the ``tools/*.sh`` scripts and no warnings, plus ``env``."""
    import os
    import sys

    return {
        **os.environ,
        'PYTHON': sys.executable,
        'PYTHONWARNINGS': 'ignore',
        'OMP_NUM_THREADS': '1',
        **env,
    }


def run_tool(
    command: List[str], cwd: Path, timeout: float = 300, check: bool = True, **env: str
) -> str:
    """Run a tool (``tools/*.py`` or ``*.sh``) in a subprocess with :func:`tool_env`; fail the
    test with its output if ``check`` and it fails. Returns stdout + stderr."""
    import subprocess

    process = subprocess.run(
        command, cwd=cwd, env=tool_env(**env), capture_output=True, text=True, timeout=timeout
    )
    output = process.stdout + process.stderr
    assert not check or process.returncode == 0, output[-4000:]
    return output


def logged_losses(work_dir: Path) -> dict:
    """``{iteration: {name: value}}`` of the loss records in the ``vis_data/scalars.json`` of the
    latest run in ``work_dir`` (a resumed run logs to a new timestamped directory)."""
    import json

    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))[-1]
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    return {
        record['step']: {name: value for name, value in record.items() if 'loss' in name}
        for record in records
        if 'loss' in record
    }
