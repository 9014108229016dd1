"""Export to ONNX and inference with onnxruntime (optional: ``onnx``, ``onnxscript`` and
``onnxruntime``, which ``tools/setup_env.sh`` installs)."""
from .export import check_exportable, export_onnx
from .onnx_centermask import ONNXCenterMask
from .onnx_runtime import ONNXRuntimeCenterMask

__all__ = ['ONNXCenterMask', 'ONNXRuntimeCenterMask', 'check_exportable', 'export_onnx']
