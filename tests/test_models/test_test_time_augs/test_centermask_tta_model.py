"""``CenterMaskTTAModel``: detectron2's TTA for CenterMask (merged boxes, averaged masks).

On a random-weight CenterMask-Lite (thresholds open so that it detects): one view at the image's
own size without flip is the plain prediction on boxes clipped to the image (what the TTA merge
clips); a flipped image's result is the mirror image of the image's result; several scales keep
shapes, image bounds and the configured number of detections; the zoo's tta_pipeline gives
centermask2's 18 views of a real COCO image.
"""
import copy
from typing import List, Tuple

import numpy as np
import pytest
import torch
from mmdet_centermask.testing import REPO_ROOT, load_config, load_tool
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet_centermask.models import CenterMaskTTAModel

LITE = 'centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'
H, W = 96, 128


@pytest.fixture(scope='module')
def detector() -> torch.nn.Module:
    cfg = load_config(LITE)
    cfg.model.test_cfg.bbox.score_thr = 0.0  # an untrained model: keep its top detections
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    # untrained boxes are mostly outside the image or empty: give them sizes of the image's
    torch.nn.init.constant_(model.bbox_head.conv_reg.bias, 1.0)
    return model.eval()


def image(seed: int = 0) -> np.ndarray:
    """A (H, W, 3) uint8 image with a few bright rectangles on noise, not mirror-symmetric."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 80, (H, W, 3), dtype=np.uint8)
    img[10:50, 8:60] = (200, 60, 40)
    img[40:90, 70:120] = (40, 180, 220)
    return img


def view(img: np.ndarray, scale: float = 1.0, flip: bool = False) -> Tuple[torch.Tensor,
                                                                           DetDataSample]:
    """One augmented view as TestTimeAug packs it: resized by ``scale``, then flipped."""
    h, w = int(H * scale + 0.5), int(W * scale + 0.5)
    resized = torch.nn.functional.interpolate(
        torch.from_numpy(img).permute(2, 0, 1)[None].float(), size=(h, w), mode='bilinear',
        align_corners=False)[0].round().to(torch.uint8)
    if flip:
        resized = resized.flip(-1)
    sample = DetDataSample(metainfo=dict(
        img_id=0, ori_shape=(H, W), img_shape=(h, w), scale_factor=(w / W, h / H), flip=flip,
        flip_direction='horizontal' if flip else None))
    return resized, sample


def tta_predict(detector, views: List[tuple], **tta_cfg) -> DetDataSample:
    cfg = dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)
    cfg.update(tta_cfg)
    tta = CenterMaskTTAModel(module=detector, tta_cfg=ConfigDict(cfg))
    data = dict(inputs=[[inputs] for inputs, _ in views],
                data_samples=[[sample] for _, sample in views])
    with torch.no_grad():
        return tta.test_step(data)[0]


def test_one_view_is_the_plain_prediction_on_clipped_boxes(detector):
    inputs, sample = view(image())
    with torch.no_grad():
        detector.bbox_head.bbox_coder.clip_border = True
        try:
            plain = detector.test_step(dict(inputs=[inputs], data_samples=[sample.clone()]))[0]
        finally:
            detector.bbox_head.bbox_coder.clip_border = False
    tta = tta_predict(detector, [(inputs, sample.clone())], mask_scores='mask_iou',
                      nms=dict(type='nms', iou_threshold=0.6), max_per_img=50)
    expected, merged = plain.pred_instances, tta.pred_instances
    assert len(expected) > 10
    for key in ('bboxes', 'scores', 'labels', 'mask_scores', 'masks'):
        torch.testing.assert_close(merged[key], expected[key], rtol=0, atol=0, msg=key)


def mirror(bboxes: torch.Tensor) -> torch.Tensor:
    return torch.stack([W - bboxes[:, 2], bboxes[:, 1], W - bboxes[:, 0], bboxes[:, 3]], 1)


def test_flipped_image_gives_the_mirrored_result(detector):
    img = image()
    flipped = np.ascontiguousarray(img[:, ::-1])
    results = [tta_predict(detector, [view(x), view(x, flip=True)]).pred_instances
               for x in (img, flipped)]
    first, second = results
    assert len(first) == len(second) > 10
    # both merge the same two sets of FCOS outputs, each mapped the other way round
    torch.testing.assert_close(second.scores, first.scores, rtol=0, atol=0)
    torch.testing.assert_close(second.labels, first.labels, rtol=0, atol=0)
    torch.testing.assert_close(second.bboxes, mirror(first.bboxes), rtol=0, atol=1e-4)
    mirrored_masks = first.masks.flip(-1)
    union = (second.masks | mirrored_masks).flatten(1).sum(1)
    intersection = (second.masks & mirrored_masks).flatten(1).sum(1)
    kept = union > 0
    assert kept.sum() > 10
    assert (intersection[kept] / union[kept]).min() > 0.98
    assert torch.equal(first.mask_scores, first.scores)  # mask_scores='box' (centermask2)


def test_several_scales_keep_shapes_and_bounds(detector):
    img = image(1)
    views = [view(img, scale) for scale in (0.75, 1.5)] + [view(img, 1.5, flip=True)]
    pred = tta_predict(detector, views, max_per_img=30).pred_instances
    assert 0 < len(pred) <= 30
    assert pred.masks.shape == (len(pred), H, W) and pred.masks.dtype == torch.bool
    assert (pred.bboxes[:, :2] >= 0).all() and (pred.bboxes[:, 2] <= W).all() \
        and (pred.bboxes[:, 3] <= H).all()
    assert ((pred.bboxes[:, 2:] - pred.bboxes[:, :2]) > 0).all()
    assert (pred.scores[:-1] >= pred.scores[1:]).all()
    # each mask lies inside its box (pasted into it)
    ys, xs = torch.arange(H)[:, None], torch.arange(W)[None]
    for mask, (x1, y1, x2, y2) in zip(pred.masks, pred.bboxes):
        inside = (xs >= x1.floor()) & (xs < x2.ceil()) & (ys >= y1.floor()) & (ys < y2.ceil())
        assert not (mask & ~inside).any()


def test_tta_refuses_panoptic_centermask_and_bad_settings(detector):
    cfg = load_config('panoptic_centermask/demo/panoptic-centermask-lite_v2-19-slim-dw_fpn_demo.py')
    with pytest.raises(ValueError, match='Panoptic-CenterMask.*without --tta'):
        CenterMaskTTAModel(module=cfg.model, tta_cfg=ConfigDict(
            nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    with pytest.raises(ValueError, match='mask_scores'):
        CenterMaskTTAModel(module=detector, tta_cfg=ConfigDict(
            nms=dict(type='nms', iou_threshold=0.5), max_per_img=100, mask_scores='maskiou'))
    with pytest.raises(ValueError, match='tta_cfg.max_per_img'):
        CenterMaskTTAModel(module=detector,
                           tta_cfg=ConfigDict(nms=dict(type='nms', iou_threshold=0.5)))


def test_zoo_tta_pipeline_gives_centermask2_views_of_a_real_image(coco45):
    cfg = load_config(LITE)
    assert cfg.tta_model.type == 'CenterMaskTTAModel'
    assert cfg.tta_model.tta_cfg == dict(nms=dict(type='nms', iou_threshold=0.5),
                                         max_per_img=100, mask_scores='box')
    path = sorted((coco45 / 'images').glob('*.jpg'))[0]
    views = Compose(cfg.tta_pipeline)(dict(img_path=str(path), img_id=0))
    metas = [sample.metainfo for sample in views['data_samples']]
    assert len(metas) == 18
    h, w = metas[0]['ori_shape']
    expected = []
    for short_side in range(400, 1201, 100):
        scale = min(short_side / min(h, w), 4000 / max(h, w))
        size = (int(h * scale + 0.5), int(w * scale + 0.5))
        expected += [(size, False), (size, True)]
    assert [(tuple(m['img_shape']), m['flip']) for m in metas] == expected
    assert all(tuple(v.shape[1:]) == m['img_shape'] for v, m in zip(views['inputs'], metas))


@pytest.mark.parametrize('config', [
    REPO_ROOT / 'configs' / LITE,
    REPO_ROOT / 'mmdet_centermask' / 'configs' / 'centermask' /
    'centermask_lite_v2_19_slim_dw_fpn_ms_4x_coco.py',
])
def test_test_tool_wraps_the_model_and_swaps_the_pipeline(config):
    """``tools/test.py --tta`` on a classic and a pure-Python config: the model inside
    ``CenterMaskTTAModel``, the TTA pipeline in the test dataset, and a config the Runner can
    still dump (the pure one's lazy imports unbuilt)."""
    cfg = Config.fromfile(config)
    model = copy.deepcopy(cfg.model)
    load_tool('test', 'tools').use_tta(cfg)
    assert cfg.model.type in ('CenterMaskTTAModel', CenterMaskTTAModel)
    assert cfg.model.module == model and cfg.model.tta_cfg.mask_scores == 'box'
    assert cfg.test_dataloader.dataset.pipeline == cfg.tta_pipeline
    assert 'CenterMaskTTAModel' in cfg.pretty_text
