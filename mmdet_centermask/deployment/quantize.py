"""INT8 post-training quantization of an exported CenterMask for OpenVINO's CPU plugin, with NNCF.

NNCF inserts ``FakeQuantize`` before the layers it quantizes and measures their ranges on
calibration images; OpenVINO then runs those layers in int8 (VNNI or AMX where the CPU has them).
Only the network is quantized: the convolutions and fully connected layers of the backbone, FPN,
FCOS towers, SAG-Mask and MaskIoU heads, and the activations that feed them. Everything else stays
float32: FCOS's box decoding, scoring (sigmoid, centerness, sqrt) and candidate selection (TopK),
the NMS, the RoI level mapping and RoiAlign's box input, the class-channel gathers, and
``score x MaskIoU``. Their values are coordinates and scores, where 8 bits (256 steps over a
1000-pixel range) would move boxes by pixels and reorder detections; they hold no weights, so
int8 gains nothing on them.
"""
from collections import Counter
from typing import Callable, Dict, Iterable, List, Optional, Set


# layers with weights: the int8 kernels that make quantization pay off
WEIGHTED_TYPES = ('Convolution', 'GroupConvolution', 'ConvolutionBackpropData', 'MatMul')


def network_node_names(model) -> Set[str]:
    """Names of the nodes whose float outputs flow into a weighted layer's activation input.

    The flow is followed backwards through float32 edges only: integer indices (TopK, gathers),
    shapes and boolean conditions (the RoI level selection) are not activations, and neither is
    RoiAlign's box input (coordinates, from the FCOS post-processing).

    Args:
        model (openvino.Model): The exported model, as read from the ``.onnx`` file.
    """
    import openvino

    network: Set[str] = set()
    todo = [op for op in model.get_ordered_ops() if op.get_type_name() in WEIGHTED_TYPES]
    while todo:
        node = todo.pop()
        if node.get_friendly_name() in network:
            continue
        network.add(node.get_friendly_name())
        inputs = node.inputs()
        if node.get_type_name() in WEIGHTED_TYPES:
            inputs = inputs[:1]  # the activation, not the weights
        elif node.get_type_name() == 'ROIAlign':
            inputs = inputs[:1]  # the feature map, not the boxes
        for port in inputs:
            source = port.get_source_output()
            if source.get_element_type() == openvino.Type.f32:
                todo.append(source.get_node())
    return network


def post_processing_node_names(model) -> List[str]:
    """Names of the computing nodes outside :func:`network_node_names`: NNCF's ignored scope."""
    network = network_node_names(model)
    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() not in ('Constant', 'Parameter', 'Result')
            and op.get_friendly_name() not in network]


def calibration_transform(runtime) -> Callable:
    """NNCF's transform of :class:`PipelineImages` items: the graph's ``[inputs, img_shape]``
    as ``runtime`` (an :class:`ExportedCenterMask`) prepares an image.

    Raises:
        ValueError: Naming an image that could not be read.
    """

    def graph_inputs(item: tuple) -> list:
        img_id, data = item
        if isinstance(data, str):  # PipelineImages' reason for an unreadable image
            raise ValueError(f'calibration image {img_id} cannot be read ({data}): remove it '
                             'from the calibration images')
        inputs, sample = runtime.preprocess(data)
        return runtime.graph_inputs(inputs, sample.img_shape)

    return graph_inputs


def is_quantized(model) -> bool:
    """Whether the model holds NNCF's ``FakeQuantize`` operations."""
    return any(op.get_type_name() == 'FakeQuantize' for op in model.get_ordered_ops())


def quantize_openvino(onnx_file: str, calibration: Iterable, transform: Optional[Callable],
                      out_file: str, num_images: int = 300, preset: str = 'mixed') -> str:
    """Quantize the network of an exported CenterMask to int8 and save it as OpenVINO IR.

    Args:
        onnx_file (str): The graph of :func:`export_onnx`.
        calibration (Iterable): Calibration items (e.g. training images after the test
            pipeline); NNCF takes the first ``num_images``.
        transform (Callable, optional): From an item to the graph's inputs
            ``[inputs, img_shape]``; None: the items are those.
        out_file (str): The ``.xml`` to write (its weights go to the ``.bin`` beside it).
        num_images (int): Calibration images; NNCF's default is 300.
        preset (str): ``'mixed'`` (asymmetric activations: the GroupNorm outputs of the FCOS
            towers are signed) or ``'performance'`` (symmetric).

    Returns:
        str: ``out_file``.
    """
    import nncf
    import openvino

    model = openvino.Core().read_model(onnx_file)
    ignored = nncf.IgnoredScope(names=post_processing_node_names(model))
    presets = dict(mixed=nncf.QuantizationPreset.MIXED,
                   performance=nncf.QuantizationPreset.PERFORMANCE)
    quantized = nncf.quantize(model, nncf.Dataset(calibration, transform),
                              preset=presets[preset], subset_size=num_images,
                              ignored_scope=ignored)
    # compress_to_fp16=False: the float constants of the post-processing stay float32
    openvino.save_model(quantized, out_file, compress_to_fp16=False)
    return out_file


def runtime_precisions(xml_file: str) -> Dict[str, Counter]:
    """Per layer type of the model OpenVINO compiles for this CPU, how many layers run in each
    precision (its runtime model's ``runtimePrecision``: ``u8``/``i8`` are int8)."""
    import openvino

    core = openvino.Core()
    compiled = core.compile_model(core.read_model(xml_file), 'CPU',
                                  {'INFERENCE_PRECISION_HINT': 'f32'})
    counts: Dict[str, Counter] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info['layerType'].astype(str)
        if kind not in ('Const', 'Input', 'Output', 'Reorder', 'FakeQuantize', 'Reshape'):
            counts.setdefault(kind, Counter())[info['runtimePrecision'].astype(str)] += 1
    return counts


def runtime_precision_table(xml_file: str) -> str:
    """:func:`runtime_precisions` as a markdown table: int8 and float layers of each type."""
    rows = ['| layer type | int8 | float |', '| --- | --- | --- |']
    for kind, counts in sorted(runtime_precisions(xml_file).items()):
        int8 = counts['u8'] + counts['i8']
        float_ = counts['f32'] + counts['bf16'] + counts['f16']
        if int8 or float_:
            rows.append(f'| {kind} | {int8} | {float_} |')
    return '\n'.join(rows)
