"""INT8 quantization (deployment/quantize.py, tools/deployment/quantize_openvino.py): which nodes
NNCF may quantize, on a hand-built graph; on the exported CenterMask, no FakeQuantize between the
network's last layers and the coordinates and scores (RoiAlign's boxes, NMS, TopK, the outputs),
the layers OpenVINO runs in int8, the int8 model on a real photograph, and the precision a model
file is run in. How close int8 comes to fp32 needs trained weights (random ones amplify the int8
rounding): `make demo-int8` measures it on the demo checkpoint
(docs/user_guides/quantization.md)."""
import re

import numpy as np
import openvino
import openvino.opset13 as ops
import pytest
from mmdet_centermask.testing import load_config

from mmdet_centermask.deployment import ExportedCenterMask
from mmdet_centermask.deployment.quantize import (WEIGHTED_TYPES, calibration_transform,
                                                  network_node_names, post_processing_node_names)

CONFIG = 'centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py'


def weights(*shape: int) -> openvino.Node:
    return ops.constant(np.full(shape, 0.1, np.float32))


def test_network_nodes_are_those_feeding_weighted_layers_activations():
    """Image -> conv -> relu -> head conv -> box arithmetic -> RoiAlign's boxes; RoiAlign on the
    relu features -> mask conv; the head conv's sigmoid is an output. Only the box arithmetic
    and the sigmoid are post-processing."""
    image = ops.parameter([1, 3, 8, 8], np.float32, name='image')
    conv = ops.convolution(image, weights(4, 3, 1, 1), [1, 1], [0, 0], [0, 0], [1, 1], name='conv')
    relu = ops.relu(conv, name='relu')
    head = ops.convolution(relu, weights(4, 4, 1, 1), [1, 1], [0, 0], [0, 0], [1, 1],
                           name='head')
    mean = ops.reduce_mean(head, ops.constant(np.array([0, 2, 3])), False, name='mean')
    boxes = ops.add(ops.constant(np.array([[0, 0, 4, 4]], np.float32)),
                    ops.multiply(mean, ops.constant(np.float32(2.0)), name='scale'), name='boxes')
    roi = ops.roi_align(relu, boxes, ops.constant(np.array([0])), 2, 2, 0, 1.0, 'avg')
    roi.set_friendly_name('roi_align')
    mask = ops.convolution(roi, weights(1, 4, 1, 1), [1, 1], [0, 0], [0, 0], [1, 1], name='mask')
    score = ops.sigmoid(head, name='score')
    model = openvino.Model([mask, score], [image])
    assert network_node_names(model) == {'image', 'conv', 'relu', 'head', 'roi_align', 'mask'}
    assert sorted(post_processing_node_names(model)) == ['boxes', 'mean', 'scale', 'score']


@pytest.fixture(scope='module')
def quantized(quantize_run):
    """The exported graph quantized by the tool, calibrated on three photographs: (path to the
    .xml, the tool's output)."""
    run, xml = quantize_run
    return xml, run.output()


def float_path_to_network(port: openvino.Input) -> list:
    """The operation types met walking back from ``port`` through every input until the
    network's last weighted layers (and shapes: ``ShapeOf`` reads no values)."""
    met, todo, seen = [], [port.get_source_output().get_node()], set()
    while todo:
        node = todo.pop()
        if node.get_friendly_name() in seen or node.get_type_name() in (*WEIGHTED_TYPES, 'ShapeOf'):
            continue
        seen.add(node.get_friendly_name())
        met.append(node.get_type_name())
        todo += [p.get_source_output().get_node() for p in node.inputs()]
    return met


@pytest.mark.slow  # NNCF calibration
def test_coordinates_and_scores_stay_float(quantized):
    xml, _ = quantized
    model = openvino.Core().read_model(xml)
    ops_by_type = {}
    for op in model.get_ordered_ops():
        ops_by_type.setdefault(op.get_type_name(), []).append(op)
    assert len(ops_by_type['FakeQuantize']) > 50
    ports = [op.input(1) for op in ops_by_type['ROIAlign']]  # the boxes
    ports += [port for op in ops_by_type['NonMaxSuppression'] + ops_by_type['TopK']
              for port in op.inputs()]
    ports += [op.input(0) for op in ops_by_type['Result']]
    assert len(ports) == 3 + 5 + 5 * 2 + 5
    for port in ports:
        assert 'FakeQuantize' not in float_path_to_network(port), port.get_node()


@pytest.mark.slow  # NNCF calibration
def test_the_tool_reports_the_network_in_int8_and_the_post_processing_in_float(quantized):
    _, output = quantized
    assert 'calibrated on 3 images' in output
    rows = {kind: (int(int8), int(float_)) for kind, int8, float_ in
            re.findall(r'^\| (\w+) \| (\d+) \| (\d+) \|$', output, re.MULTILINE)}
    for kind in ('ROIAlign', 'NonMaxSuppression', 'TopK'):
        assert rows[kind][0] == 0 and rows[kind][1] > 0, kind
    int8, float_ = rows['Convolution']
    assert int8 > 2 * float_  # what stays float: depthwise convolutions the CPU runs in fp32
    assert rows['FullyConnected'] == (3, 0)  # the MaskIoU head


@pytest.mark.slow  # NNCF calibration
def test_int8_model_predicts_a_photograph(quantized, exported, photographs):
    xml, _ = quantized
    _, cfg, _ = exported
    sample, = ExportedCenterMask(xml, cfg, 'openvino', 'int8')([photographs[1]])
    pred = sample.pred_instances
    height, width = sample.ori_shape
    assert len(pred) > 0 and pred.masks.shape == (len(pred), height, width)
    assert (pred.bboxes[:, 2:] <= pred.bboxes.new_tensor([width, height])).all()
    assert ((pred.scores > 0) & (pred.scores <= 1)).all()


@pytest.mark.slow  # NNCF calibration
def test_a_model_file_runs_in_its_own_precision(quantized, exported):
    xml, _ = quantized
    _, cfg, onnx_file = exported
    with pytest.raises(ValueError, match=r'centermask.onnx is not quantized \(no FakeQuantize\): '
                                         r'make its int8 model with '
                                         r'tools/deployment/quantize_openvino.py'):
        ExportedCenterMask(onnx_file, cfg, 'openvino', 'int8')
    with pytest.raises(ValueError, match=r'centermask_int8.xml is quantized: run it with '
                                         r'precision int8'):
        ExportedCenterMask(xml, cfg, 'openvino', 'fp32')
    with pytest.raises(ValueError, match=r"backend='onnxruntime', precision='int8'"):
        ExportedCenterMask(xml, load_config(CONFIG), 'onnxruntime', 'int8')


def test_an_unreadable_calibration_image_is_named():
    transform = calibration_transform(runtime=None)
    with pytest.raises(ValueError, match=r'calibration image 7 cannot be read \(a.jpg: OSError: '
                                         r'broken data\): remove it from the calibration images'):
        transform((7, 'a.jpg: OSError: broken data'))
