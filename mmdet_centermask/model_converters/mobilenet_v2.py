"""centermask2's MobileNetV2 (ImageNet ``mobilenet_v2_detectron2.pth`` and the backbone of trained
CenterMask-Lite-Mv2 checkpoints) to :class:`CenterMaskMobileNetV2` state dicts.

centermask2 numbers its layers in one list, ``features.{i}``: ``features.0`` is the stem
(conv ``.0``, BN ``.1``), ``features.1`` .. ``features.17`` the inverted residual blocks, which
mmdet groups into ``layer1`` .. ``layer7`` by :attr:`MobileNetV2.arch_settings` (1, 2, 3, 4, 3,
3 and 1 blocks). Inside a block, ``conv.{j}`` holds the expanding 1x1 conv and BN (0, 1), the
depthwise conv and BN (3, 4) and the linear 1x1 conv and BN (6, 7); ``features.1`` (expand ratio
1) has only the depthwise (0, 1) and linear (3, 4) units. ImageNet files may also hold the
1280-channel ``features.18`` and the ``classifier``, which the detector does not use.

=========================================  ==============================================
centermask2 (``backbone.bottom_up.`` opt.)  mmdet
=========================================  ==============================================
``features.0.0`` / ``features.0.1``        ``conv1.conv`` / ``conv1.bn``
``features.{i}.conv.0`` / ``.1``           ``layer{l}.{b}.expand_conv.conv`` / ``.bn``
``features.{i}.conv.3`` / ``.4``           ``layer{l}.{b}.depthwise_conv.conv`` / ``.bn``
``features.{i}.conv.6`` / ``.7``           ``layer{l}.{b}.linear_conv.conv`` / ``.bn``
=========================================  ==============================================
"""
import re
from typing import Dict, Iterable, List, Optional, Tuple

from torch import Tensor

from mmdet.models.backbones import MobileNetV2
from ..models.backbones.vovnet import CENTERMASK2_PREFIX
from .common import Conversion, finish_conversion, input_meta, map_keys, module_shapes
from .vovnet import DETECTRON2_INPUT

FEATURE_KEY = re.compile(r'features\.(\d+)\.(.+)')
STEM_UNITS = {'0': 'conv1.conv', '1': 'conv1.bn'}
BLOCK_UNITS = {'0': 'expand_conv.conv', '1': 'expand_conv.bn', '3': 'depthwise_conv.conv',
               '4': 'depthwise_conv.bn', '6': 'linear_conv.conv', '7': 'linear_conv.bn'}
BLOCK_UNITS_WITHOUT_EXPAND = {'0': 'depthwise_conv.conv', '1': 'depthwise_conv.bn',
                              '3': 'linear_conv.conv', '4': 'linear_conv.bn'}
# channels of each mmdet layer's output -> its index (out_indices)
LAYER_BY_CHANNELS = {channels: i for i, (_, channels, _, _) in
                     enumerate(MobileNetV2.arch_settings)}
NUM_BLOCKS = sum(num_blocks for _, _, num_blocks, _ in MobileNetV2.arch_settings)
UNUSED = {'classifier': 'ImageNet classifier',
          f'features.{NUM_BLOCKS + 1}': '1280-channel conv after the last block (not in the '
          'detector, as in centermask2)'}


def _block_position(index: int) -> Tuple[int, int]:
    """``(layer, block)`` of centermask2's ``features.{index}`` (1 <= index <= 17)."""
    first = 1
    for layer, (_, _, num_blocks, _) in enumerate(MobileNetV2.arch_settings, start=1):
        if index < first + num_blocks:
            return layer, index - first
        first += num_blocks
    raise ValueError(f'features.{index} is no MobileNetV2 block')


def _target(bare_key: str) -> Optional[str]:
    """The :class:`CenterMaskMobileNetV2` key of a prefix-free centermask2 key, if any."""
    match = FEATURE_KEY.fullmatch(bare_key)
    if match is None:
        return None
    index, rest = int(match[1]), match[2]
    if index == 0:
        unit, _, param = rest.partition('.')
        return f'{STEM_UNITS[unit]}.{param}' if unit in STEM_UNITS else None
    if index > NUM_BLOCKS:
        return None
    layer, block = _block_position(index)
    unit_match = re.fullmatch(r'conv\.(\d+)\.(\w+)', rest)
    units = BLOCK_UNITS_WITHOUT_EXPAND if layer == 1 else BLOCK_UNITS
    if unit_match is None or unit_match[1] not in units:
        return None
    return f'layer{layer}.{block}.{units[unit_match[1]]}.{unit_match[2]}'


def is_mobilenet_v2(keys: Iterable[str]) -> bool:
    """Whether the (bottom-up) backbone keys are centermask2's MobileNetV2 ``features.{i}``."""
    return any(FEATURE_KEY.fullmatch(key.removeprefix(CENTERMASK2_PREFIX)) for key in keys)


def centermask2_to_mobilenet_v2_keys(keys: Iterable[str]) -> Dict[str, Optional[str]]:
    """Map centermask2 MobileNetV2 keys (with or without ``backbone.bottom_up.``) to
    :class:`CenterMaskMobileNetV2` keys (module docstring); None for keys of no rule."""
    return {key: _target(key.removeprefix(CENTERMASK2_PREFIX)) for key in keys}


def unused_keys(keys: Iterable[str]) -> Dict[str, str]:
    """The keys of an ImageNet file that the detector has no place for, with the reason."""
    return {key: reason for key in keys for prefix, reason in UNUSED.items()
            if key.removeprefix(CENTERMASK2_PREFIX).startswith(prefix + '.')}


def mobilenet_v2_config(fpn_in_channels: List[int]) -> dict:
    """The :class:`CenterMaskMobileNetV2` config whose outputs have ``fpn_in_channels``."""
    return dict(type='CenterMaskMobileNetV2',
                out_indices=tuple(LAYER_BY_CHANNELS[c] for c in fpn_in_channels))


def convert_mobilenet_v2(source: Dict[str, Tensor]) -> Conversion:
    """Convert centermask2's MobileNetV2 ImageNet weights to a :class:`CenterMaskMobileNetV2`
    state dict with bare backbone keys (``out_indices=(2, 4, 6)``, CenterMask-Lite-Mv2's).

    Args:
        source (dict[str, Tensor]): The source state dict.

    Returns:
        :obj:`Conversion`: The result; ``meta`` holds ``source``, ``backbone`` (the config) and
        the input normalisation (detectron2's: BGR, mean subtraction only).
    """
    mapped = map_keys(source, centermask2_to_mobilenet_v2_keys(source), unused_keys(source))
    cfg = mobilenet_v2_config([32, 96, 320])
    meta = dict(source='centermask2 MobileNetV2', backbone=cfg, **input_meta(**DETECTRON2_INPUT))
    return finish_conversion(mapped, module_shapes(cfg), meta)
