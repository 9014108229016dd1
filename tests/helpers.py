"""Helpers shared by the tests (importable as ``helpers``: pytest puts ``tests/`` on sys.path for conftest.py)."""
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


def make_batch(img_shapes: Sequence[Sequence[int]],
               num_gts: Sequence[int],
               num_classes: int = 80,
               mask_type: str = 'polygon',
               scale: float = 1.0,
               box_sizes: Sequence[float] = (),
               seed: int = 0) -> dict:
    """A collated batch (``inputs`` uint8 images, ``data_samples``) with random boxes whose masks are
    ellipses inscribed in the boxes, as polygons or bitmaps. ``scale`` is the resize factor from the
    original image (ori_shape = img_shape / scale). ``box_sizes`` fixes the longer side of the first
    boxes of every image (to reach given FCOS levels)."""
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
        boxes = np.stack([x1, y1, np.minimum(x1 + bw, w), np.minimum(y1 + bh, h)], 1).astype(np.float32)
        polys = []
        for x_a, y_a, x_b, y_b in boxes:
            t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
            cx, cy, rx, ry = (x_a + x_b) / 2, (y_a + y_b) / 2, (x_b - x_a) / 2, (y_b - y_a) / 2
            polys.append([np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1).reshape(-1)])
        masks = PolygonMasks(polys, h, w)
        if mask_type == 'bitmap':
            masks = BitmapMasks(masks.to_ndarray(), h, w)
        gt = InstanceData(bboxes=torch.from_numpy(boxes).reshape(-1, 4),
                          labels=torch.from_numpy(rng.randint(0, num_classes, n)).long(),
                          masks=masks)
        ori_shape = (int(round(h / scale)), int(round(w / scale)))
        sample = DetDataSample(metainfo=dict(img_id=len(samples), img_shape=(h, w), ori_shape=ori_shape,
                                             scale_factor=(w / ori_shape[1], h / ori_shape[0])))
        sample.gt_instances = gt
        sample.ignored_instances = InstanceData(bboxes=torch.zeros((0, 4)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)
