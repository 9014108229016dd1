"""What every benchmarked model gets: its config and random-weight model, the random images, the
fixed detections of ``--num-dets`` and, for models that cannot take them, their own detections.

Models whose masks come from per-detection parameters of their box head (YOLACT, CondInst,
RTMDet-Ins) or from grid cells (SOLOv2) cannot be handed fixed boxes. With ``--num-dets K`` their
score thresholds are set to 0 and their ``max_per_img`` to K (:func:`detect_own_instances`), so
that with random weights their mask heads also produce about K masks; the rows count the masks.
"""
import copy
import functools
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.models.dense_heads import SOLOHead
from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, SampleList

FIXED_BOX_MIN_SIDE = 16.0
PAD_SIZE_DIVISOR = 32
FIXED_BOX_MAX_SIDE_RATIO = 0.6
# test_cfg keys that drop candidates by score: 0 keeps every candidate
SCORE_THRESHOLD_KEYS = ('score_thr', 'filter_thr')


def load_config(config: str) -> Config:
    """A config from a path or a packaged ``package::group/name.py`` config."""
    return get_config(config) if '::' in config else Config.fromfile(config)


def drop_pretrained_init(node: object) -> None:
    """Remove every ``init_cfg`` of type ``Pretrained`` from a config tree, in place."""
    if isinstance(node, dict):
        init_cfg = node.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            node['init_cfg'] = None
        elif isinstance(init_cfg, list):
            node['init_cfg'] = [cfg for cfg in init_cfg if cfg.get('type') != 'Pretrained']
        for value in node.values():
            drop_pretrained_init(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            drop_pretrained_init(value)


def build_model(cfg: Config, checkpoint: Optional[str], device: str, seed: int) -> BaseDetector:
    """Build ``cfg.model`` in eval mode: seeded random initialisation, then the checkpoint if any.

    ``init_weights`` runs without the ``Pretrained`` entries, so the heads get their configured
    initialisation (e.g. the classification prior of dense heads) and nothing is downloaded. A
    preprocessor that pads to less than a multiple of 32 pads to one: RTMDet's pipeline pads
    every image to 640x640 instead, and its PAFPN fails on other sizes.
    """
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    drop_pretrained_init(cfg.model)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu')
    preprocessor = model.data_preprocessor
    if getattr(preprocessor, 'pad_size_divisor', PAD_SIZE_DIVISOR) < PAD_SIZE_DIVISOR:
        preprocessor.pad_size_divisor = PAD_SIZE_DIVISOR
    return model.to(device).eval()


def random_images(num_images: int, input_size: Sequence[int], seed: int) -> List[Tensor]:
    """``num_images`` uint8 images (3, H, W) of uniform noise."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, *input_size), dtype=torch.uint8, generator=generator)
            for _ in range(num_images)]


def preprocess(model: BaseDetector, image: Tensor) -> Tuple[Tensor, SampleList]:
    """An image through the model's own data preprocessor, as a batch of one.

    The sample says the image is its own original (``scale_factor`` 1), so ``predict`` works with
    ``rescale=True``; the preprocessor adds ``pad_shape`` and ``batch_input_shape``.
    """
    height, width = image.shape[-2:]
    sample = DetDataSample(metainfo=dict(
        img_id=0, img_shape=(height, width), ori_shape=(height, width), scale_factor=(1.0, 1.0)))
    data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), training=False)
    return data['inputs'], data['data_samples']


def fixed_detections(num_dets: int, input_size: Sequence[int], num_classes: int,
                     seed: int) -> InstanceData:
    """K boxes spread over the image: log-uniform sizes from 16 px to 60% of the shorter side,
    aspect ratios 1:2 to 2:1, labels ``i % num_classes``, decreasing scores (in input pixels)."""
    rng = np.random.RandomState(seed)
    height, width = input_size
    max_side = FIXED_BOX_MAX_SIDE_RATIO * min(height, width)
    sides = np.exp(rng.uniform(np.log(FIXED_BOX_MIN_SIDE), np.log(max_side), num_dets))
    aspects = np.exp(rng.uniform(np.log(0.5), np.log(2.0), num_dets))
    box_w = np.minimum(sides * np.sqrt(aspects), width)
    box_h = np.minimum(sides / np.sqrt(aspects), height)
    x1 = rng.uniform(0, width - box_w)
    y1 = rng.uniform(0, height - box_h)
    bboxes = np.stack([x1, y1, x1 + box_w, y1 + box_h], axis=1)
    return InstanceData(
        bboxes=torch.from_numpy(bboxes).float(),
        scores=torch.linspace(0.9, 0.1, num_dets),
        labels=torch.arange(num_dets) % num_classes)


def copy_detections(detections: InstanceData, device: str) -> InstanceData:
    """Fresh tensors on ``device``: mask post-processing rescales the boxes in place."""
    return InstanceData(**{key: value.to(device, copy=True) for key, value in detections.items()})


def detect_own_instances(model: nn.Module, num_dets: int) -> None:
    """Score thresholds 0 and ``max_per_img = num_dets`` in every ``test_cfg`` of the model's
    modules, in place (the heads read them at prediction time).

    SOLO's heads keep their ``num_dets`` best (cell, class) candidates instead: each candidate is
    a whole-image mask made by a dynamic convolution before any top-k, so a threshold of 0 would
    compute all of them (80 x 3872 at SOLOv2's grids), where a trained model keeps the few above
    0.1 (:func:`top_candidates`).
    """
    for module in model.modules():
        test_cfg = getattr(module, 'test_cfg', None)
        if not isinstance(test_cfg, dict):
            continue
        for cfg in (test_cfg, *(value for value in test_cfg.values()
                                if isinstance(value, dict))):
            for key in SCORE_THRESHOLD_KEYS:
                if key in cfg:
                    cfg[key] = 0.0
            if 'max_per_img' in cfg:
                cfg['max_per_img'] = num_dets
        if isinstance(module, SOLOHead):
            module._predict_by_feat_single = top_candidates(module._predict_by_feat_single,
                                                            num_dets)


def top_candidates(predict_single: Callable, num_dets: int) -> Callable:
    """A SOLO head's ``_predict_by_feat_single`` with its score threshold just below the
    ``num_dets``-th highest class score of the image (mmdet keeps scores ``> score_thr``)."""

    @functools.wraps(predict_single)
    def predict_top(kernel_preds: Tensor, cls_scores: Tensor, mask_feats: Tensor,
                    img_meta: dict, cfg: Optional[dict] = None) -> InstanceData:
        cfg = copy.deepcopy(cfg if cfg is not None else predict_single.__self__.test_cfg)
        kth = cls_scores.flatten().topk(min(num_dets, cls_scores.numel())).values[-1]
        cfg.score_thr = torch.nextafter(kth, kth.new_tensor(-1.0)).item()
        return predict_single(kernel_preds, cls_scores, mask_feats, img_meta, cfg)

    return predict_top


def num_dets_policy(num_dets: int) -> str:
    """The sentence that says how many detections reach the mask branches."""
    if num_dets == 0:
        return ('Detections: every mask branch receives its own box head\'s detections '
                '(--num-dets 0).')
    return (f'Detections: every box head runs in full with its configured post-processing, '
            f'then its detections are replaced by the same {num_dets} fixed boxes (seeded, '
            f'spread over the image, {FIXED_BOX_MIN_SIDE:g} px to '
            f'{FIXED_BOX_MAX_SIDE_RATIO:.0%} of the shorter side, labels cycling through the '
            f'classes), which every mask branch receives (--num-dets {num_dets}); models whose '
            f'masks need their own detections (YOLACT, SOLOv2, CondInst, RTMDet-Ins) run with '
            f'score thresholds 0 and at most {num_dets} detections per image (SOLOv2: its '
            f'{num_dets} best-scoring mask candidates).')
