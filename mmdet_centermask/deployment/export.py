from typing import Optional, Sequence

import torch
from mmcv.ops import ModulatedDeformConv2d
from torch import nn

from .onnx_centermask import OPSET, ONNXCenterMask

# dynamic input sizes: multiples of 32 (the data preprocessor's padding) from 64 to 4096
SIZE_DIVISOR = 32
MAX_SIZE = 4096


def check_exportable(model: nn.Module) -> None:
    """Raise if the model holds a layer without a standard ONNX operator.

    Raises:
        ValueError: Naming the layers (mmcv's modulated deformable convolutions, DCN).
    """
    dcn = [name for name, module in model.named_modules()
           if isinstance(module, ModulatedDeformConv2d)]
    if dcn:
        raise ValueError(f'{len(dcn)} modulated deformable convolutions (DCN, e.g. {dcn[0]}) '
                         'have no standard ONNX operator (onnxruntime has none either): export a '
                         'config without DCN')


def export_onnx(model: nn.Module, out_file: str, input_size: Sequence[int] = (608, 1024),
                dynamic: bool = False, verbose: bool = False) -> Optional[str]:
    """Export a :class:`CenterMask` (or the instance branch of a :class:`PanopticCenterMask`)
    in eval mode to ONNX as :class:`ONNXCenterMask`.

    Args:
        model (nn.Module): The detector, weights loaded.
        out_file (str): The ``.onnx`` file to write.
        input_size (Sequence[int]): ``(h, w)`` of the padded input; rounded up to a multiple of
            32. The only size of a static graph, an example of a dynamic one.
        dynamic (bool): Any input size that is a multiple of 32 (64 to 4096), as the test
            pipeline's keep-ratio resize gives them.
        verbose (bool): Print the exporter's progress.

    Returns:
        str: ``out_file``.
    """
    check_exportable(model)
    h, w = (-(-size // SIZE_DIVISOR) * SIZE_DIVISOR for size in input_size)
    graph = ONNXCenterMask(model.eval()).eval()
    inputs = torch.zeros(1, 3, h, w)
    img_shape = torch.tensor([h, w])
    dynamic_shapes = None
    if dynamic:
        height = torch.export.Dim('height', min=2, max=MAX_SIZE // SIZE_DIVISOR)
        width = torch.export.Dim('width', min=2, max=MAX_SIZE // SIZE_DIVISOR)
        dynamic_shapes = ({2: height * SIZE_DIVISOR, 3: width * SIZE_DIVISOR}, None)
    with torch.no_grad():
        torch.onnx.export(
            graph, (inputs, img_shape), out_file, dynamo=True, opset_version=OPSET,
            input_names=['inputs', 'img_shape'], output_names=list(graph.output_names),
            dynamic_shapes=dynamic_shapes, verbose=verbose)
    return out_file
