"""VoVNet ImageNet weights (detectron2 releases and timm) to :class:`VoVNet` state dicts.

Two source layouts are recognised from their keys:

* ``detectron2``: the ImageNet releases for detectron2 (``vovnet39_ese_detectron2.pth`` ...),
  centermask2's own names such as ``backbone.bottom_up.stage4.OSA4_2.layers.0.OSA4_2_0/conv.weight``
  (prefix optional), trained on BGR input with mean subtraction only;
* ``timm``: ``ese_vovnet*`` / ``vovnet*a`` state dicts (``stem.{i}``,
  ``stages.{i}.blocks.{j}.conv_reduction|conv_mid.{k}|conv_concat|attn.fc``, ``head.fc``), trained
  on RGB input normalised with the ImageNet mean and std. timm puts an eSE only in the last block
  of each stage; the others get an exact identity eSE (fc weight 0, bias 3: ``hsigmoid(3) = 1``).

The target arch is the one of :attr:`VoVNet.arch_settings` that the keys and shapes fill
completely; ``arch`` names it where they cannot tell.
"""
import re
from typing import Dict, Iterable, List, Optional, Set, Tuple

import torch
from torch import Tensor

from ..models.backbones.vovnet import CENTERMASK2_PREFIX, VoVNet, centermask2_to_vovnet_key
from .common import (Conversion, ConversionError, Shapes, finish_conversion, input_meta,
                     is_fillable_counter, map_keys, module_shapes)

DETECTRON2_INPUT = dict(channel_order='BGR', mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0])
TIMM_INPUT = dict(
    channel_order='RGB', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
# hsigmoid(0 * x + 3) = relu6(6) / 6 = 1 exactly.
IDENTITY_ESE_BIAS = 3.0
# Channels of a modulated deformable conv's offset conv per deform group: 2 * 9 offsets, 9 masks.
DCNV2_OFFSET_CHANNELS = 27

_TIMM_UNIT = re.compile(
    r'(?P<unit>stem\.(?P<stem>\d+)|stages\.(?P<stage>\d+)\.blocks\.(?P<block>\d+)\.'
    r'(?P<part>conv_reduction|conv_mid\.(?P<layer>\d+)|conv_concat))'
    r'\.(?P<child>conv|conv_dw|conv_pw|bn)\.(?P<param>\w+)')
_TIMM_ATTN = re.compile(r'stages\.(\d+)\.blocks\.(\d+)\.attn\.fc\.(weight|bias)')
_TIMM_CLASSIFIER = re.compile(r'head\.fc\.(weight|bias)')
# timm child -> centermask2 child, in plain (ConvNormAct) and separable units.
_PLAIN_CHILDREN = {'conv': 'conv', 'bn': 'norm'}
_SEPARABLE_CHILDREN = {'conv_dw': 'dw_conv3x3', 'conv_pw': 'pw_conv1x1', 'bn': 'pw_norm'}
_DETECTRON2_KEY = re.compile(r'(stem|stage\d+)\.')


def detect_vovnet_layout(keys: Iterable[str]) -> str:
    """``'detectron2'`` or ``'timm'``, from the key names.

    Raises:
        ConversionError: The keys are of neither layout, or of both.
    """
    keys = list(keys)
    detectron2 = any('/' in key and _DETECTRON2_KEY.match(key.replace(CENTERMASK2_PREFIX, '', 1))
                     for key in keys)
    timm = any(_TIMM_UNIT.fullmatch(key) for key in keys)
    if detectron2 == timm:
        raise ConversionError(
            'cannot tell the layout: expected detectron2 VoVNet keys such as '
            '"backbone.bottom_up.stem.stem_1/conv.weight" or timm ones such as '
            f'"stem.0.conv.weight", got {"both" if timm else "neither"} (first keys: {keys[:3]})')
    return 'timm' if timm else 'detectron2'


def timm_to_vovnet_keys(keys: Iterable[str]) -> Dict[str, Optional[str]]:
    """Map timm VoVNet keys to :class:`VoVNet` keys.

    ``stem.{i}`` -> ``stem.stem_{i+1}``; ``stages.{s}.blocks.{b}`` -> ``stage{s+2}.OSA{s+2}_{b+1}``
    with ``conv_reduction`` -> ``conv_reduction.OSA.._reduction_0``, ``conv_mid.{k}`` ->
    ``layers.{k}.OSA.._{k}``, ``conv_concat`` -> ``concat.OSA.._concat`` and ``attn.fc`` ->
    ``ese.fc``; inside a unit ``conv``/``bn`` -> ``_conv``/``_norm``, or in separable units
    ``conv_dw``/``conv_pw``/``bn`` -> ``_dw_conv3x3``/``_pw_conv1x1``/``_pw_norm``.

    Args:
        keys (Iterable[str]): timm keys (all of a state dict: separable units are recognised by
            their ``conv_dw``).

    Returns:
        dict[str, str | None]: The target of every key, None for keys of no rule.
    """
    keys = list(keys)
    matches = {key: _TIMM_UNIT.fullmatch(key) for key in keys}
    separable = {m['unit'] for m in matches.values() if m and m['child'] == 'conv_dw'}
    key_map = {}
    for key in keys:
        unit_match, attn_match = matches[key], _TIMM_ATTN.fullmatch(key)
        if unit_match:
            children = _SEPARABLE_CHILDREN if unit_match['unit'] in separable else _PLAIN_CHILDREN
            child = children.get(unit_match['child'])
            key_map[key] = (f'{_timm_unit_name(unit_match)}_{child}.{unit_match["param"]}'
                            if child else None)
        elif attn_match:
            stage, block = _block_names(attn_match[1], attn_match[2])
            key_map[key] = f'{stage}.{block}.ese.fc.{attn_match[3]}'
        else:
            key_map[key] = None
    return key_map


def _block_names(stage_index: str, block_index: str) -> Tuple[str, str]:
    """Names of timm's ``stages.{s}.blocks.{b}`` in :class:`VoVNet`, e.g. stage3, OSA3_1."""
    stage = int(stage_index) + 2
    return f'stage{stage}', f'OSA{stage}_{int(block_index) + 1}'


def _timm_unit_name(match: re.Match) -> str:
    """Module path of the conv unit a :data:`_TIMM_UNIT` match names, without the child."""
    if match['stem'] is not None:
        return f'stem.stem_{int(match["stem"]) + 1}'
    stage, block = _block_names(match['stage'], match['block'])
    if match['part'] == 'conv_reduction':
        return f'{stage}.{block}.conv_reduction.{block}_reduction_0'
    if match['part'] == 'conv_concat':
        return f'{stage}.{block}.concat.{block}_concat'
    return f'{stage}.{block}.layers.{match["layer"]}.{block}_{match["layer"]}'


def detectron2_to_vovnet_keys(keys: Iterable[str]) -> Dict[str, Optional[str]]:
    """Map detectron2 / centermask2 VoVNet keys (prefix ``backbone.bottom_up.`` optional) with
    :func:`centermask2_to_vovnet_key`; keys of other modules map to None."""
    key_map = {}
    for key in keys:
        bare = key[len(CENTERMASK2_PREFIX):] if key.startswith(CENTERMASK2_PREFIX) else key
        key_map[key] = centermask2_to_vovnet_key(key) if _DETECTRON2_KEY.match(bare) else None
    return key_map


def fill_identity_ese(tensors: Dict[str, Tensor], target_shapes: Shapes) -> List[str]:
    """Give every converted block without an eSE an identity eSE (fc weight 0, bias 3).

    Args:
        tensors (dict[str, Tensor]): :class:`VoVNet` tensors, completed in place.
        target_shapes (dict[str, tuple]): The target's shapes.

    Returns:
        list[str]: A note naming the filled blocks, if any.
    """
    blocks = _converted_blocks(tensors)
    filled = []
    for key, shape in target_shapes.items():
        block = key[:-len('.ese.fc.weight')]
        if not key.endswith('.ese.fc.weight') or key in tensors or block not in blocks:
            continue
        tensors[key] = torch.zeros(shape)
        tensors[f'{block}.ese.fc.bias'] = torch.full(shape[:1], IDENTITY_ESE_BIAS)
        filled.append(block)
    if not filled:
        return []
    return [f'identity eSE (fc weight 0, bias {IDENTITY_ESE_BIAS:g}) in the {len(filled)} blocks '
            f'the source has none: {", ".join(filled)}']


def vovnet_config(arch: str, tensors: Dict[str, Tensor]) -> dict:
    """The :class:`VoVNet` config of ``arch`` with the eSE and DCN layout of converted tensors.

    eSE keys mean VoVNetV2 (eSE and identity connections); without them VoVNet V1. Offset convs
    in a stage mean a DCNv2 there (deform groups from their channels).

    Args:
        arch (str): A key of :attr:`VoVNet.arch_settings`.
        tensors (dict[str, Tensor]): Converted tensors with :class:`VoVNet` keys.

    Returns:
        dict: The config, e.g. ``dict(type='VoVNet', arch='V-39', with_ese=True,
        with_identity=True)``.
    """
    with_ese = any('.ese.fc.' in key for key in tensors)
    cfg = dict(type='VoVNet', arch=arch, with_ese=with_ese, with_identity=with_ese)
    offsets = {key: value for key, value in tensors.items() if key.endswith('conv_offset.weight')}
    if offsets:
        num_stages = len(VoVNet.arch_settings[arch]['num_blocks'])
        cfg['dcn'] = dict(
            type='DCNv2',
            deform_groups=max(next(iter(offsets.values())).shape[0] // DCNV2_OFFSET_CHANNELS, 1),
            fallback_on_stride=False)
        cfg['stage_with_dcn'] = [
            any(key.startswith(f'stage{i + 2}.') for key in offsets) for i in range(num_stages)
        ]
    return cfg


def _unfillable(tensors: Dict[str, Tensor], target_shapes: Shapes, with_fill: bool) -> List[str]:
    """Target keys that neither the tensors nor the automatic fills provide."""
    blocks = _converted_blocks(tensors)
    return [
        key for key in target_shapes if key not in tensors
        and not is_fillable_counter(key, tensors)
        and not (with_fill and '.ese.fc.' in key and key.split('.ese.')[0] in blocks)
    ]


def _converted_blocks(tensors: Dict[str, Tensor]) -> Set[str]:
    """Paths of the OSA blocks whose concat conv is converted, e.g. ``stage4.OSA4_1``."""
    return {key.split('.concat.')[0] for key in tensors if key.endswith('_concat_conv.weight')}


def select_vovnet_config(tensors: Dict[str, Tensor],
                         arch: Optional[str] = None,
                         with_fill: bool = False) -> dict:
    """Choose the :class:`VoVNet` target of converted tensors.

    Without ``arch``, the arch is the only one of :attr:`VoVNet.arch_settings` that the tensors
    fit (every key exists with the same shape) and fill; if none fills, the only one they fit.

    Args:
        tensors (dict[str, Tensor]): Converted tensors with :class:`VoVNet` keys.
        arch (str, optional): The arch to use whatever the keys say.
        with_fill (bool): Missing eSEs will get :func:`fill_identity_ese`.

    Returns:
        dict: The :func:`vovnet_config`.

    Raises:
        ConversionError: ``arch`` is unknown, or the keys fit several archs (or none) without
            filling any; the caller tells how to name the arch.
    """
    if arch is not None:
        if arch not in VoVNet.arch_settings:
            raise ConversionError(f'unknown arch {arch!r}, valid ones are '
                                  f'{sorted(VoVNet.arch_settings)}')
        cfg = vovnet_config(arch, tensors)
        try:
            module_shapes(cfg)
        except ValueError as error:  # e.g. a DCN in a depthwise arch
            raise ConversionError(f'{arch}: {error}') from error
        return cfg
    fitting, complete, differences = [], [], {}
    for name in VoVNet.arch_settings:
        try:
            shapes = module_shapes(vovnet_config(name, tensors))
        except ValueError:  # e.g. a DCN in a depthwise arch
            continue
        wrong = [key for key, value in tensors.items() if shapes.get(key) != tuple(value.shape)]
        differences[name] = wrong
        if not wrong:
            fitting.append(name)
            if not _unfillable(tensors, shapes, with_fill):
                complete.append(name)
    chosen = complete if complete else fitting
    if len(chosen) == 1:
        return vovnet_config(chosen[0], tensors)
    if chosen:
        raise ConversionError(
            f'the keys fit the VoVNet archs {chosen} and fill none of them, so they cannot tell '
            'which one is meant (is a stage missing?)')
    closest = min(differences, key=lambda name: len(differences[name]))
    raise ConversionError(
        f'the keys fit no VoVNet arch: the closest, {closest}, lacks or has other shapes for '
        f'{len(differences[closest])} of them, e.g. {differences[closest][:3]}')


def convert_vovnet(source: Dict[str, Tensor], arch: Optional[str] = None) -> Conversion:
    """Convert detectron2 or timm VoVNet ImageNet weights to a :class:`VoVNet` state dict.

    The result has bare backbone keys, for ``init_cfg=dict(type='Pretrained', checkpoint=...)``
    of the backbone. timm's classifier (``head.fc``) is dropped.

    Args:
        source (dict[str, Tensor]): The source state dict.
        arch (str, optional): Target arch; inferred from the keys when None.

    Returns:
        :obj:`Conversion`: The result; ``meta`` holds ``source`` (the layout), ``backbone``
        (the :class:`VoVNet` config) and the input normalisation the weights expect.

    Raises:
        ConversionError: The layout or the arch cannot be told.
    """
    layout = detect_vovnet_layout(source)
    if layout == 'timm':
        key_map = timm_to_vovnet_keys(source)
        dropped = {key: 'ImageNet classifier' for key in source if _TIMM_CLASSIFIER.fullmatch(key)}
        input_cfg = TIMM_INPUT
    else:
        key_map = detectron2_to_vovnet_keys(source)
        dropped = {}
        input_cfg = DETECTRON2_INPUT
    mapped = map_keys(source, key_map, dropped)
    with_fill = layout == 'timm'
    try:
        cfg = select_vovnet_config(mapped.tensors, arch, with_fill)
    except ConversionError as error:
        if arch is not None:
            raise
        raise ConversionError(f'{error}; pass --arch to convert against one arch and see '
                              'every difference') from error
    if not cfg['with_ese']:
        mapped.notes.append('no eSE in the source: VoVNet V1, so the config needs '
                            'with_ese=False, with_identity=False')
    meta = dict(source=layout, backbone=cfg, **input_meta(**input_cfg))
    return finish_conversion(mapped, module_shapes(cfg), meta,
                             fill_identity_ese if with_fill else None)
