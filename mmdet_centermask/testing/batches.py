"""Random batches with ellipse masks (as ``mmdet.testing.demo_mm_inputs`` for mmdet), one training
step with a prediction for any CenterMask or Panoptic-CenterMask config, and a small R-18
CenterMask with its inputs."""

from typing import List, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData, PixelData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from .zoo import load_config


def make_batch(
    img_shapes: Sequence[Sequence[int]],
    num_gts: Sequence[int],
    num_classes: int = 80,
    mask_type: str = 'polygon',
    scale: float = 1.0,
    box_sizes: Sequence[float] = (),
    seed: int = 0,
    num_stuff_classes: int = 0,
) -> dict:
    """A collated batch (``inputs`` uint8 images, ``data_samples``) with random boxes whose masks
    are ellipses inscribed in the boxes, as polygons or bitmaps. ``scale`` is the resize factor
    from the original image (ori_shape = img_shape / scale). ``box_sizes`` fixes the longer side of
    the first boxes of every image (to reach given FCOS levels). ``num_stuff_classes`` > 0 adds a
    panoptic ``gt_sem_seg``: stuff labels ``num_classes + k`` in horizontal bands, the instances'
    labels on their masks, a void (255) border."""
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
        if num_stuff_classes:
            seg = num_classes + (np.arange(h)[:, None] * num_stuff_classes // h).repeat(w, 1)
            for mask, label in zip(masks.to_ndarray(), gt.labels.numpy()):
                seg[mask.astype(bool)] = label
            seg[:4], seg[:, :4] = 255, 255
            sample.gt_sem_seg = PixelData(sem_seg=torch.from_numpy(seg)[None])
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def train_step_and_predict(cfg: Config) -> list:
    """Build the model of a zoo config, train one step on a random 256x352 image holding a box of
    every FCOS level's size (asserting finite, positive losses and a gradient on every trainable
    parameter), then predict on a random image of 256x352 at ori_shape 512x704. Panoptic models
    get ``gt_sem_seg`` too."""
    num_classes = cfg.model.bbox_head.num_classes
    num_stuff = cfg.model.get('semantic_head', {}).get('num_stuff_classes', 0)
    # COCO's regress ranges / 4, so that small test images reach every FCOS level
    cfg.model.bbox_head.regress_ranges = ((-1, 16), (16, 32), (32, 64), (64, 128), (128, 1e8))
    if cfg.model.backbone.type in ('ResNet', 'ResNeXt'):  # zero-initialised gammas cut blocks
        cfg.model.backbone.zero_init_residual = False
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    # Frozen BN without ImageNet statistics lets random activations grow through the backbone
    # until the attention saturates; batch statistics stand in for the pretrained ones (the BN
    # stays frozen).
    model.backbone.norm_eval = False
    model.backbone.train()
    # relu(scale * distance) passes no gradient to a level scale whose few positives all start with
    # negative predicted distances: start them positive
    torch.nn.init.constant_(model.bbox_head.conv_reg.bias, 1.0)
    # one image holds a box of every size: positives on every FCOS level and RoIs on P3-P5
    batch = make_batch([(256, 352)], [6], num_classes=num_classes,
                       box_sizes=[12, 28, 56, 110, 300], num_stuff_classes=num_stuff)
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    for key, value in losses.items():
        assert torch.isfinite(value) and value > 0, key
    sum(losses.values()).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    assert [n for n, p in trainable if p.grad is None or not p.grad.abs().sum() > 0] == []

    model.eval()
    torch.nn.init.constant_(model.bbox_head.conv_cls.bias, 0.0)  # let the untrained head detect
    with torch.no_grad():
        batch = make_batch([(256, 352)], [2], num_classes=num_classes, scale=0.5)
        return model(**model.data_preprocessor(batch, False), mode='predict')


SMALL_CENTERMASK_CLASSES = 4


def build_small_centermask() -> torch.nn.Module:
    """A small CenterMask: the R-50 zoo config with an R-18 backbone of trainable BN, 4 classes and
    COCO's regress ranges / 4, seeded and initialised."""
    cfg = load_config('centermask/centermask_r50_fpn_1x_coco.py')
    model_cfg = cfg.model
    model_cfg.backbone.update(
        depth=18,
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        frozen_stages=-1,
        zero_init_residual=False,
    )
    model_cfg.neck.in_channels = [128, 256, 512]
    model_cfg.bbox_head.num_classes = SMALL_CENTERMASK_CLASSES
    # COCO's regress ranges / 4, so that small test images reach every FCOS level
    model_cfg.bbox_head.regress_ranges = ((-1, 16), (16, 32), (32, 64), (64, 128), (128, 1e8))
    model_cfg.roi_head.mask_head.num_classes = SMALL_CENTERMASK_CLASSES
    model_cfg.roi_head.mask_iou_head.num_classes = SMALL_CENTERMASK_CLASSES
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def small_centermask_inputs(model: torch.nn.Module, training: bool, **kwargs) -> dict:
    """A :func:`make_batch` for :func:`build_small_centermask` (two images of about 100 px by
    default), through the model's data preprocessor."""
    kwargs.setdefault('img_shapes', [(96, 128), (80, 112)])
    kwargs.setdefault('num_gts', [3, 2])
    return model.data_preprocessor(make_batch(num_classes=SMALL_CENTERMASK_CLASSES, **kwargs), training)
