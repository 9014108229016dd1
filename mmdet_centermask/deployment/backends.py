"""The inference engines an exported CenterMask runs on: a session per engine, called with the
graph's inputs, returning its outputs as numpy arrays; ``input_size`` is the fixed ``(h, w)`` of a
static graph, None for a dynamic one."""
from typing import List, Optional

import numpy as np

from .quantize import is_quantized


class ONNXRuntimeSession:
    """An onnxruntime CPU session of an exported CenterMask."""

    def __init__(self, onnx_file: str, precision: str, num_threads: Optional[int]) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self.session = onnxruntime.InferenceSession(
            onnx_file, options, providers=['CPUExecutionProvider'])
        size = self.session.get_inputs()[0].shape[2:]
        self.input_size = size if all(isinstance(s, int) for s in size) else None

    def __call__(self, inputs: np.ndarray, img_shape: np.ndarray) -> List[np.ndarray]:
        return self.session.run(None, {'inputs': inputs, 'img_shape': img_shape})


class OpenVINOSession:
    """An OpenVINO CPU model of an exported CenterMask, compiled for ``precision``: the ``.onnx``
    in fp32 or bf16, or the int8 ``.xml`` of :func:`quantize_openvino` (its float layers in
    fp32)."""

    def __init__(self, onnx_file: str, precision: str, num_threads: Optional[int]) -> None:
        import openvino

        core = openvino.Core()
        model = core.read_model(onnx_file)
        quantized = is_quantized(model)
        if precision == 'int8' and not quantized:
            raise ValueError(f'{onnx_file} is not quantized (no FakeQuantize): make its int8 '
                             'model with tools/deployment/quantize_openvino.py')
        if precision != 'int8' and quantized:
            raise ValueError(f'{onnx_file} is quantized: run it with precision int8')
        config = {'INFERENCE_PRECISION_HINT': 'bf16' if precision == 'bf16' else 'f32'}
        if num_threads:
            config['INFERENCE_NUM_THREADS'] = num_threads
        self.model = core.compile_model(model, 'CPU', config)
        shape = model.inputs[0].get_partial_shape()
        self.input_size = ([shape[2].get_length(), shape[3].get_length()]
                           if shape[2].is_static and shape[3].is_static else None)

    def __call__(self, inputs: np.ndarray, img_shape: np.ndarray) -> List[np.ndarray]:
        outputs = self.model([inputs, img_shape])
        return [outputs[i] for i in range(len(outputs))]


BACKENDS = dict(onnxruntime=ONNXRuntimeSession, openvino=OpenVINOSession)
PRECISIONS = dict(onnxruntime=('fp32', ), openvino=('fp32', 'bf16', 'int8'))
# the --precision choices of the tools: OpenVINO's, a superset of the other engines'
PRECISION_CHOICES = PRECISIONS['openvino']
