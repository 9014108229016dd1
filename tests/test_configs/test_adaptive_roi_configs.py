"""The Mask R-CNN config with Equation 2 RoI extractors builds, trains and predicts."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs

from mmdet_centermask.models.roi_heads.roi_extractors import AdaptiveRoIExtractor

CONFIG = (Path(__file__).resolve().parents[2] / 'configs' / 'adaptive_roi' /
          'mask-rcnn_r50_fpn_adaptive-roi_1x_coco.py')


def build_small_model():
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.backbone.depth = 18
    cfg.model.backbone.init_cfg = None
    cfg.model.neck.in_channels = [64, 128, 256, 512]
    # Fewer RoIs for a fast CPU test; score_thr 0 keeps the untrained model's detections so
    # that the mask branch runs at test time too.
    cfg.model.train_cfg.rpn_proposal.max_per_img = 100
    cfg.model.train_cfg.rcnn.sampler.num = 64
    cfg.model.test_cfg.rpn.max_per_img = 100
    cfg.model.test_cfg.rcnn.update(score_thr=0.0, max_per_img=10)
    init_default_scope('mmdet')
    return MODELS.build(cfg.model)


def test_config_uses_adaptive_extractors():
    roi_head = Config.fromfile(str(CONFIG)).model.roi_head
    for extractor, size in ((roi_head.bbox_roi_extractor, 7), (roi_head.mask_roi_extractor, 14)):
        assert extractor.type == 'AdaptiveRoIExtractor'
        assert extractor.featmap_strides == [4, 8, 16, 32]
        assert extractor.roi_layer.output_size == size
        assert extractor.roi_layer.sampling_ratio == 0


@pytest.mark.slow  # a whole zoo model in-process
def test_loss_and_predict():
    torch.manual_seed(0)
    model = build_small_model()
    for extractor in (model.roi_head.bbox_roi_extractor, model.roi_head.mask_roi_extractor):
        assert isinstance(extractor, AdaptiveRoIExtractor)
        assert (extractor.min_level, extractor.max_level) == (2, 5)
    packed = demo_mm_inputs(2, [[3, 128, 128], [3, 96, 160]], with_mask=True)

    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    for name in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'):
        assert name in losses
    total = sum(sum(v) if isinstance(v, list) else v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()

    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 2
    for result, sample in zip(results, packed['data_samples']):
        pred = result.pred_instances
        assert len(pred.masks) > 0
        assert pred.masks.dtype == torch.bool
        assert tuple(pred.masks.shape[1:]) == tuple(sample.ori_shape)
        assert len(pred.masks) == len(pred.bboxes) == len(pred.scores)
