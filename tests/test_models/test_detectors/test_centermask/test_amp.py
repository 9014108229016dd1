"""CenterMask under CPU mixed precision (bfloat16 autocast, what ``--amp`` runs on the CPU).

mmcv 2.1.0's CPU RoIAlign has no bfloat16 kernel and its nms takes float32 boxes only, and mmdet
makes FCOS's point priors in the dtype of the scores: our RoI extractor pools and our FCOS head
post-processes in float32. The small R-18 model (``build_small_centermask``) trains and predicts under
autocast with results close to float32; ``tools/train.py --amp`` trains on the demo data without
NaN. Inputs are at least 224 px: torch 2.13's CPU bfloat16 backward of a 3x3 stride-2 conv on a 1x1
input (FPN's P7 conv on images of 64 px or less) returns garbage on its first call.
"""
import sys

import pytest
import torch
from mmengine.config import ConfigDict
from mmdet_centermask.testing import (REPO_ROOT, build_small_centermask, logged_losses, run_tool,
                                      small_centermask_inputs)

from mmdet.structures.bbox import bbox2roi
from mmdet_centermask.models import AdaptiveRoIExtractor, CenterMaskFCOSHead

DEMO_CONFIG = 'configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py'


def bfloat16_autocast() -> torch.autocast:
    return torch.autocast('cpu', dtype=torch.bfloat16)


def assert_relatively_close(actual: torch.Tensor, expected: torch.Tensor,
                            tolerance: float = 0.1) -> None:
    """The difference within ``tolerance`` of the float32 values, in L2 norm. bfloat16 keeps 8
    bits and the rounding errors add up over the layers: the random R-18 FPN features differ by
    4-5%, the FCOS outputs by 5-10%; a single element may stray further."""
    assert actual.shape == expected.shape
    error = (actual.float() - expected).norm()
    assert error <= tolerance * expected.norm(), (error, expected.norm())


@pytest.fixture
def model() -> torch.nn.Module:
    """The small R-18 CenterMask, with its classification prior bias at 0 so that it detects, and
    BN statistics of its own features (random weights with the default statistics give features
    that vanish or explode layer by layer, where relative bfloat16 errors mean nothing). A new one
    per test: a training step moves the statistics."""
    model = build_small_centermask()
    torch.nn.init.constant_(model.bbox_head.conv_cls.bias, 0.0)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: one pass sets the batch statistics
    model.train()
    with torch.no_grad():
        model.extract_feat(small_centermask_inputs(model, False, img_shapes=[(256, 352), (224, 288)])['inputs'])
    for norm in norms:
        norm.momentum = 0.1
    return model


def test_training_step(model: torch.nn.Module) -> None:
    model.train()
    data = small_centermask_inputs(model, True, img_shapes=[(256, 352), (224, 288)], num_gts=[6, 3],
                 box_sizes=[12, 28, 56, 110, 300])
    torch.manual_seed(0)  # the RoI sampler is random
    with torch.no_grad():
        expected = model(**data, mode='loss')
    model.zero_grad()
    torch.manual_seed(0)
    with bfloat16_autocast():
        losses = model(**data, mode='loss')
    assert set(losses) == set(expected)
    for name, value in losses.items():
        assert value.dtype == torch.float32 and torch.isfinite(value), name
        torch.testing.assert_close(value, expected[name], rtol=0.05, atol=0, msg=name)
    sum(losses.values()).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


def test_predict_close_to_float32(model: torch.nn.Module) -> None:
    model.eval()
    data = small_centermask_inputs(model, False, img_shapes=[(256, 352), (224, 288)], scale=0.5)
    inputs, samples = data['inputs'], data['data_samples']
    with torch.no_grad():
        expected_feats = model.extract_feat(inputs)
        expected_head = model.bbox_head(expected_feats)
        expected_dets = model.bbox_head.predict(expected_feats, samples)
        expected = [s.pred_instances for s in model.predict(inputs, samples)]
        with bfloat16_autocast():
            feats = model.extract_feat(inputs)
            head = model.bbox_head(feats)
            dets = model.bbox_head.predict(feats, samples)
            results = [s.pred_instances for s in model.predict(inputs, samples)]
    for level_outputs, expected_level_outputs in zip(head, expected_head):
        for output, expected_output in zip(level_outputs, expected_level_outputs):
            assert_relatively_close(output, expected_output)
    for det, expected_det in zip(dets, expected_dets):
        assert len(det) == len(expected_det) > 0
        assert det.bboxes.dtype == det.scores.dtype == torch.float32
        # near-equal scores may swap, so compare the score distributions
        torch.testing.assert_close(det.scores.sort().values, expected_det.scores.sort().values,
                                   rtol=0, atol=0.01)

    for result, reference, sample in zip(results, expected, samples):
        # an untrained model predicts many boxes of almost no width or just outside the image,
        # which bfloat16 rounding keeps or drops at the final clip
        n = len(result)
        assert abs(n - len(reference)) <= 0.1 * len(reference) and n > 0
        assert result.bboxes.dtype == result.scores.dtype == torch.float32
        assert result.masks.shape == (n, *sample.ori_shape) and result.masks.dtype == torch.bool
        assert torch.isfinite(result.mask_scores).all()


def test_mask_branch_on_the_same_boxes_close_to_float32(model: torch.nn.Module) -> None:
    model.eval()
    data = small_centermask_inputs(model, False, img_shapes=[(256, 352), (224, 288)], num_gts=[6, 3])
    samples = data['data_samples']
    detections = [s.gt_instances for s in samples]
    with torch.no_grad():
        expected_masks, expected_ious = model.roi_head(
            model.extract_feat(data['inputs']), detections, samples)
        with bfloat16_autocast():
            masks, ious = model.roi_head(model.extract_feat(data['inputs']), detections, samples)
    assert_relatively_close(masks, expected_masks)
    assert_relatively_close(ious, expected_ious)


def test_roi_extractor_pools_bfloat16_features_in_float32() -> None:
    extractor = AdaptiveRoIExtractor(out_channels=4)
    feats = tuple(torch.randn(2, 4, 1344 // s, 1344 // s).bfloat16().requires_grad_()
                  for s in (8, 16, 32))
    boxes = [torch.tensor([[1000.3, 1010.6, 1040.9, 1051.2], [2.5, 3.5, 700.0, 900.0]]),
             torch.tensor([[100.2, 200.7, 300.4, 280.9]])]
    rois = bbox2roi(boxes)
    pooled = extractor(feats, rois, img_shapes=[(1344, 1344)] * 2)
    assert pooled.dtype == torch.bfloat16
    # the same pooling of the same values in float32 (RoIs in float32, not rounded to bfloat16)
    expected = extractor(tuple(f.detach().float() for f in feats), rois,
                         img_shapes=[(1344, 1344)] * 2)
    assert torch.equal(pooled, expected.bfloat16())
    pooled.float().sum().backward()
    assert all(f.grad is not None and f.grad.dtype == torch.bfloat16 for f in feats)


def test_fcos_post_processing_in_float32() -> None:
    """bfloat16 head outputs give the boxes of their float32 values: the point priors are float32,
    which bfloat16 would round by up to 4 px beyond x or y = 1024."""
    head = CenterMaskFCOSHead(num_classes=3, in_channels=8, feat_channels=8, stacked_convs=1,
                              norm_cfg=None,
                              test_cfg=ConfigDict(nms_pre=1000, score_thr=0.0, max_per_img=100,
                                                  nms=dict(type='nms', iou_threshold=0.6)))
    sizes = [(1344 // s, 1344 // s) for s in head.strides]
    generator = torch.Generator().manual_seed(0)
    cls_scores = [torch.randn(1, 3, *size, generator=generator).bfloat16() for size in sizes]
    bbox_preds = [torch.rand(1, 4, *size, generator=generator) * 40 for size in sizes]
    centernesses = [torch.randn(1, 1, *size, generator=generator).bfloat16() for size in sizes]
    metas = [dict(img_shape=(1344, 1344), scale_factor=(1.0, 1.0))]
    result, = head.predict_by_feat(cls_scores, bbox_preds, centernesses, batch_img_metas=metas)
    expected, = head.predict_by_feat([c.float() for c in cls_scores], bbox_preds,
                                     [c.float() for c in centernesses], batch_img_metas=metas)
    assert result.bboxes.dtype == result.scores.dtype == torch.float32
    assert result.bboxes[:, 2:].max() > 1024
    assert torch.equal(result.bboxes, expected.bboxes)
    assert torch.equal(result.scores, expected.scores)


@pytest.mark.e2e  # tools/train.py --amp on the demo data, in a subprocess
@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (bfloat16) path')
def test_amp_trains_on_the_demo_data(tmp_path) -> None:
    # a demo dataset of its own (the main-job test writes data/centermask_demo, maybe meanwhile)
    data_root = tmp_path / 'demo'
    run_tool([sys.executable, 'tools/dataset_converters/make_demo_dataset.py', '--out',
              str(data_root), '--num-train', '32', '--num-val', '4'], cwd=REPO_ROOT, timeout=600)
    work_dir = tmp_path / 'amp'
    run_tool([sys.executable, 'tools/train.py', DEMO_CONFIG, '--amp', '--work-dir', str(work_dir),
              '--cfg-options', f'train_dataloader.dataset.data_root={data_root}/',
              'train_cfg.max_iters=8', 'default_hooks.logger.interval=1',
              'log_processor.window_size=1', 'val_cfg=None', 'val_dataloader=None',
              'val_evaluator=None'], cwd=REPO_ROOT, OMP_NUM_THREADS='2')
    dumped = (work_dir / 'centermask-lite_v2-19-slim-dw_fpn_demo.py').read_text()
    assert "type='AmpOptimWrapper'" in dumped and "dtype='bfloat16'" in dumped
    losses = logged_losses(work_dir)
    assert list(losses) == list(range(1, 9))
    names = {'loss', 'loss_cls', 'loss_bbox', 'loss_centerness', 'loss_mask', 'loss_mask_iou'}
    for step, values in losses.items():
        assert set(values) == names, step
        assert all(torch.isfinite(torch.tensor(v)) for v in values.values()), (step, values)
