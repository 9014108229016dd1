"""ONNX export: the exported CenterMask run by plain onnxruntime or OpenVINO (ExportedCenterMask)
gives the PyTorch model's detections, masks and mask scores on real photographs of several sizes
(one dynamic graph), an empty result where nothing is detected, and clear errors for a static graph
given another size, for DCN and for an unknown backend. The model has random weights of plausible
scale and FCOS scales of 8, so that it detects objects of every size (as in
test_centermask/test_border.py)."""

import copy

import numpy as np
import pytest
import torch
from mmdet_centermask.testing import load_config, random_detector
from mmengine.dataset import pseudo_collate

from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps
from mmdet.structures.mask import encode_mask_results
from mmdet_centermask.apis import build_predictor
from mmdet_centermask.deployment import ExportedCenterMask, check_exportable, export_onnx

CONFIG = 'centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py'

# onnxruntime: the parity bounds; OpenVINO's CPU kernels round differently (e.g. its
# convolution algorithms), which the random weights amplify
TOLERANCES = dict(onnxruntime=dict(iou=0.999, score=1e-4, pixels=1e-3),
                  openvino=dict(iou=0.995, score=1e-3, pixels=1e-2))


@pytest.mark.slow  # a zoo model exported to ONNX
@pytest.mark.usefixtures('quantize_run')  # test_quantize.py's tool run, beside these tests
@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_exported_model_gives_the_pytorch_detections_and_masks(exported, backend, photographs):
    model, cfg, onnx_file = exported
    runtime = ExportedCenterMask(onnx_file, cfg, backend=backend, precision='fp32')
    tol = TOLERANCES[backend]
    for image in photographs:
        data = runtime.file_pipeline(dict(img_path=image, img_id=0))
        with torch.no_grad():
            ref = model.test_step(pseudo_collate([copy.deepcopy(data)]))[0].pred_instances
        got = runtime.predict_sample(data).pred_instances
        assert len(ref) >= 10 and len(got) == len(ref)
        assert torch.equal(got.labels, ref.labels)
        assert (bbox_overlaps(got.bboxes, ref.bboxes, is_aligned=True) > tol['iou']).all()
        torch.testing.assert_close(got.scores, ref.scores, rtol=0, atol=tol['score'])
        # random MaskIoU weights predict "IoUs" far outside [0, 1], which amplify the float32
        # rounding of the mask logits (a trained checkpoint's mask scores agree to 3e-7: README)
        torch.testing.assert_close(got.mask_scores, ref.mask_scores, rtol=5e-2, atol=1e-4)
        assert got.masks.shape == ref.masks.shape and ref.masks.any()
        assert (got.masks != ref.masks).float().mean() < tol['pixels']


@pytest.mark.slow  # a zoo model exported to ONNX
def test_openvino_bf16_finds_the_best_detection_of_fp32(exported, photographs):
    model, cfg, onnx_file = exported
    image = photographs[0]
    fp32, bf16 = (ExportedCenterMask(onnx_file, cfg, 'openvino', precision)([image])[0]
                  .pred_instances for precision in ('fp32', 'bf16'))
    assert len(bf16) > 0
    # random weights score the top detections within 0.003 of each other, where bfloat16's
    # rounding (8 bits of mantissa) may reorder them: each precision's best detection is among
    # the other's five best, at a score within bfloat16's resolution
    assert bbox_overlaps(bf16.bboxes[:1], fp32.bboxes[:5]).max().item() > 0.9
    assert bbox_overlaps(fp32.bboxes[:1], bf16.bboxes[:5]).max().item() > 0.9
    assert abs(bf16.scores[0] - fp32.scores[0]).item() < 0.01


def test_unknown_backend_or_precision_is_named():
    with pytest.raises(ValueError, match=r"backend='onnxruntime', precision='bf16': expected one "
                                         r'of onnxruntime \(fp32\), openvino \(fp32/bf16/int8\)'):
        ExportedCenterMask('unused.onnx', load_config(CONFIG), 'onnxruntime', 'bf16')


@pytest.mark.slow  # a zoo model exported to ONNX
def test_nothing_detected_gives_empty_results_and_a_static_graph_names_its_size(tmp_path):
    cfg = load_config(CONFIG)
    cfg.model.test_cfg.bbox.score_thr = 1.0  # no class probability passes
    onnx_file = str(tmp_path / 'static.onnx')
    export_onnx(random_detector(cfg), onnx_file, input_size=(288, 352), dynamic=False)
    runtime = ExportedCenterMask(onnx_file, cfg)
    sample, = runtime([np.zeros((288, 352, 3), np.uint8)])
    assert len(sample.pred_instances) == 0
    assert sample.pred_instances.masks.shape == (0, 288, 352)
    with pytest.raises(ValueError, match=r'takes inputs of 288x352 only, this image is 224x352 '
                                         r'after the test pipeline: export with --dynamic'):
        runtime([np.zeros((224, 352, 3), np.uint8)])


def test_dcn_is_refused_by_name():
    model = MODELS.build(load_config('centermask/centermask_v2-39-dcn_fpn_ms-3x_coco.py').model)
    with pytest.raises(ValueError, match=r'modulated deformable convolutions \(DCN, e.g. '
                                         r'backbone\..*have no standard ONNX operator'):
        check_exportable(model)


@pytest.mark.slow  # a zoo model exported to ONNX
def test_batch_predictor_of_the_graph_gives_its_masks_as_rle(exported, photographs):
    """``apis.build_predictor`` on the exported graph: the runtime's detections, each mask the
    COCO RLE of the bitmap the runtime pastes, and the config's class names."""
    _, cfg, onnx_file = exported
    predict, classes = build_predictor(cfg, onnx_file, backend='onnxruntime')
    runtime = ExportedCenterMask(onnx_file, cfg, backend='onnxruntime')
    assert classes == tuple(cfg.test_dataloader.dataset.metainfo.classes)
    data = runtime.file_pipeline(dict(img_path=photographs[0], img_id=0))
    got = predict(copy.deepcopy(data)).pred_instances
    ref = runtime.predict_sample(data).pred_instances
    assert len(ref) >= 10 and torch.equal(got.bboxes, ref.bboxes)
    assert got.masks == encode_mask_results(ref.masks.numpy())
