"""Helpers shared by the tests (importable as ``helpers``: pytest puts ``tests/`` on sys.path for
conftest.py)."""

import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData, PixelData

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


def build_model(config: str, device: str = 'meta') -> torch.nn.Module:
    """The model of a zoo config in eval mode, by default on the meta device (no memory, no
    initialisation: :func:`load` gives it its tensors)."""
    from mmdet.registry import MODELS

    with torch.device(device):
        return MODELS.build(load_config(config).model).eval()


def load(module: torch.nn.Module, state_dict: Dict[str, torch.Tensor]) -> torch.nn.Module:
    """Load with ``strict=True``, taking the tensors over (so meta modules become real)."""
    module.load_state_dict(state_dict, strict=True, assign=True)
    return module


def load_tool(name: str, folder: str = 'tools/model_converters') -> ModuleType:
    """Import ``<folder>/<name>.py`` (a command-line tool) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f'tools_{name}',
                                                  REPO_ROOT / folder / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    """Build the model of a zoo config, train one step on a random batch (asserting finite,
    positive losses and a gradient on every trainable parameter), then predict on a random image
    of 256x352 at ori_shape 512x704. Panoptic models get ``gt_sem_seg`` too."""
    from mmdet.registry import MODELS

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
    batch = make_batch([(256, 352), (224, 288)], [6, 3], num_classes=num_classes,
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


def walkthrough_config(first_line_start: str) -> str:
    """The python block of the custom-dataset guide whose first line starts with
    ``first_line_start``."""
    guide = (REPO_ROOT / 'docs' / 'user_guides' / 'own_dataset.md').read_text(encoding='utf-8')
    blocks = re.findall(r'```python\n(.*?)```', guide, re.S)
    block, = [b for b in blocks if b.startswith(first_line_start)]
    return block


def write_my_dataset(root: Path) -> None:
    """The tiny COCO dataset (squares and bars) as data/my_dataset/ with train and val jsons."""
    write_tiny_coco(root / 'data' / 'my_dataset')
    annotations = root / 'data' / 'my_dataset' / 'annotations'
    for split in ('train', 'val'):
        shutil.copy(annotations / 'instances.json', annotations / f'{split}.json')


# what only the walkthrough's tests change: no ImageNet weights offline, two iterations, small
# images, an untrained model's detections kept (seeded, so that every image has some for metrics)
_SIZE = TINY_COCO_IMAGE_SIZE
WALKTHROUGH_OPTIONS = [
    'model.backbone.init_cfg=None', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
    'model.test_cfg.bbox.score_thr=0.0', 'model.test_cfg.bbox.min_bbox_size=0',
    'model.test_cfg.bbox.max_per_img=10', 'model.train_cfg.bbox.max_per_img=20',
    'randomness.seed=0', f'train_dataloader.dataset.pipeline.2.scales=[({_SIZE},{_SIZE})]',
    f'val_dataloader.dataset.pipeline.1.scale=({_SIZE},{_SIZE})',
    f'test_dataloader.dataset.pipeline.1.scale=({_SIZE},{_SIZE})',
] + [f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
     for key in ('num_workers=0', 'persistent_workers=False', 'batch_size=2')]


CLIP_FRAMES, CLIP_HEIGHT, CLIP_WIDTH, CLIP_FPS = 4, 96, 128, 10.0


def write_clip(path: Path) -> None:
    """A short mp4 clip of a coloured square moving over noise."""
    import cv2

    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), CLIP_FPS,
                             (CLIP_WIDTH, CLIP_HEIGHT))
    for i in range(CLIP_FRAMES):
        frame = rng.integers(0, 80, (CLIP_HEIGHT, CLIP_WIDTH, 3), dtype=np.uint8)
        frame[20:60, 10 + 15 * i:50 + 15 * i] = (40, 200, 40)
        writer.write(frame)
    writer.release()


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


# (x, y, w, h) of the thing squares per image of write_tiny_coco_panoptic; the rest is stuff
TINY_PANOPTIC_SQUARES = [[(8, 8, 24, 24)], [(30, 20, 20, 30), (4, 40, 16, 16)]]
TINY_PANOPTIC_CATEGORIES = [
    dict(id=1, name='square', isthing=1, supercategory='shape'),
    dict(id=7, name='sky', isthing=0, supercategory='stuff'),
    dict(id=9, name='ground', isthing=0, supercategory='stuff'),
]


def write_tiny_coco_panoptic(root: Path, stuff: bool = True) -> dict:
    """Write a toy COCO panoptic dataset to ``root``: ``images/`` with two 64x64 images of
    green squares (category 1) on a sky (7, upper half) and ground (9, lower half) background,
    ``panoptic.json`` and ``panoptic/*.png``. ``stuff=False`` leaves the background void.
    Returns the json (to be changed and written again by a test)."""
    import json

    import cv2

    rng = np.random.default_rng(0)
    (root / 'images').mkdir(parents=True)
    (root / 'panoptic').mkdir()
    size = 64
    images, annotations = [], []
    for image_id, squares in enumerate(TINY_PANOPTIC_SQUARES, start=1):
        image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        ids = np.zeros((size, size), np.int64)
        segments = []
        if stuff:
            for segment_id, category_id, rows in ((101, 7, slice(0, 32)), (102, 9, slice(32, 64))):
                ids[rows] = segment_id
                image[rows] += 80 if category_id == 7 else 40
                segments.append(dict(id=segment_id, category_id=category_id, iscrowd=0,
                                     bbox=[0, rows.start, size, 32], area=size * 32))
        for k, (x, y, w, h) in enumerate(squares, start=1):
            ids[y:y + h, x:x + w] = k
            image[y:y + h, x:x + w] = (40, 200, 40)
            segments.append(dict(id=k, category_id=1, iscrowd=0, bbox=[x, y, w, h], area=w * h))
        for segment in segments:
            segment['area'] = int((ids == segment['id']).sum())
        file_name = f'{image_id:04d}.jpg'
        cv2.imwrite(str(root / 'images' / file_name), image)
        from panopticapi.utils import id2rgb
        rgb = id2rgb(ids).astype(np.uint8)
        cv2.imwrite(str(root / 'panoptic' / file_name.replace('.jpg', '.png')), rgb[..., ::-1])
        images.append(dict(id=image_id, file_name=file_name, width=size, height=size))
        annotations.append(dict(image_id=image_id, file_name=file_name.replace('.jpg', '.png'),
                                segments_info=segments))
    coco = dict(images=images, annotations=annotations, categories=TINY_PANOPTIC_CATEGORIES)
    (root / 'panoptic.json').write_text(json.dumps(coco))
    return coco


def tiny_panoptic_dataset_cfg(root: Path, pipeline: list) -> dict:
    """A ``CheckedCocoPanopticDataset`` config of :func:`write_tiny_coco_panoptic` data."""
    return dict(
        type='CheckedCocoPanopticDataset',
        data_root=str(root),
        ann_file='panoptic.json',
        data_prefix=dict(img='images/', seg='panoptic/'),
        metainfo=dict(classes=('square', 'sky', 'ground'), thing_classes=('square', ),
                      stuff_classes=('sky', 'ground')),
        pipeline=pipeline)


def assert_panoptic_matches_instances(result, semantic_head: dict, score_thr: float) -> None:
    """The ``pred_panoptic_seg`` of a :class:`DetDataSample` is consistent with its
    ``pred_instances``: at least one thing segment, no more than instances scoring
    ``score_thr``, each of a thing label and inside the mask of such an instance of its label;
    the other values stuff labels or void."""
    from mmdet.evaluation.functional import INSTANCE_OFFSET

    num_things = semantic_head['num_things_classes']
    num_classes = num_things + semantic_head['num_stuff_classes']
    pan = result.pred_panoptic_seg.sem_seg[0].numpy()
    pred = result.pred_instances
    laid = pred[pred.scores >= score_thr]
    segments = np.unique(pan)
    things = segments[segments >= INSTANCE_OFFSET]
    assert 0 < len(things) <= len(laid)
    for segment in things:
        label, pixels = segment % INSTANCE_OFFSET, pan == segment
        assert label < num_things
        assert any(bool(mask[pixels].all()) for mask, lab in
                   zip(laid.masks.numpy(), laid.labels.numpy()) if lab == label), segment
    stuff = segments[segments < INSTANCE_OFFSET]
    assert ((stuff >= num_things) & (stuff <= num_classes)).all()


def read_panoptic_ids(png: Path) -> np.ndarray:
    """The segment ids (``R + 256 G + 256^2 B``, panopticapi's ``rgb2id``) of a panoptic PNG."""
    import mmcv
    from panopticapi.utils import rgb2id

    return rgb2id(mmcv.imread(str(png), channel_order='rgb')).astype(np.int64)
