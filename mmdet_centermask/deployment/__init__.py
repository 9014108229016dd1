"""Export to ONNX, INT8 quantization for OpenVINO, and inference with onnxruntime or OpenVINO (the
``deploy`` extra, which ``tools/setup_env.sh`` installs)."""
from .backends import PRECISION_CHOICES
from .export import check_exportable, export_onnx
from .exported_centermask import ExportedCenterMask
from .onnx_centermask import ONNXCenterMask
from .quantize import quantize_openvino

__all__ = [
    'PRECISION_CHOICES', 'ExportedCenterMask', 'ONNXCenterMask', 'check_exportable', 'export_onnx',
    'quantize_openvino'
]
