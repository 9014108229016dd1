"""Export to ONNX and inference with onnxruntime or OpenVINO (the ``deploy`` extra, which
``tools/setup_env.sh`` installs)."""
from .export import check_exportable, export_onnx
from .exported_centermask import ExportedCenterMask
from .onnx_centermask import ONNXCenterMask

__all__ = ['ExportedCenterMask', 'ONNXCenterMask', 'check_exportable', 'export_onnx']
