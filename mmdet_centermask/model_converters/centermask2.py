"""centermask2 (detectron2) CenterMask checkpoints to mmdet CenterMask state dicts.

Name map (``{l}`` an FPN level, ``L`` the lowest lateral level, 3 in centermask2):

=================================================  ===============================================
centermask2                                        mmdet
=================================================  ===============================================
``backbone.bottom_up.`` + VoVNet key               ``backbone.`` + the same key with ``_`` for
                                                   ``/``; DCN ``.../OSA3_1_0/conv_offset.*`` ->
                                                   ``.../OSA3_1_0_conv.conv_offset.*``
``backbone.bottom_up.stem.conv1`` (+ ``.norm``)    ``backbone.conv1`` (``backbone.bn1``)
``backbone.bottom_up.res{s}.{i}.conv{k}``          ``backbone.layer{s-1}.{i}.conv{k}``
(+ ``.norm``)                                      (``.bn{k}``)
``backbone.bottom_up.res{s}.{i}.shortcut``         ``backbone.layer{s-1}.{i}.downsample.0``
(+ ``.norm``)                                      (``.downsample.1``); ResNeXt alike
``backbone.bottom_up.features.{i}...``             ``backbone.`` + the MobileNetV2 key
                                                   (:mod:`.mobilenet_v2`)
``backbone.fpn_lateral{l}`` / ``fpn_output{l}``    ``neck.lateral_convs.{l-L}.conv`` /
                                                   ``neck.fpn_convs.{l-L}.conv``
``backbone.top_block.p6`` / ``p7``                 ``neck.fpn_convs.3.conv`` / ``.4.conv``
``proposal_generator.fcos_head.cls_tower.{3i}``    ``bbox_head.cls_convs.{i}.conv``
``...cls_tower.{3i+1}`` (GroupNorm)                ``bbox_head.cls_convs.{i}.gn``
``...bbox_tower.{3i}`` / ``{3i+1}``                ``bbox_head.reg_convs.{i}.conv`` / ``.gn``
``...cls_logits`` / ``bbox_pred`` / ``ctrness``    ``bbox_head.conv_cls`` / ``conv_reg`` /
                                                   ``conv_centerness``
``...scales.{i}.scale`` (shape [1])                ``bbox_head.scales.{i}.scale`` (shape [])
``roi_heads.mask_head.mask_fcn{k}``                ``roi_head.mask_head.convs.{k-1}.conv``
``roi_heads.mask_head.spatialAtt.conv``            ``roi_head.mask_head.spatial_attention.conv``
``roi_heads.mask_head.deconv`` / ``predictor``     ``roi_head.mask_head.upsample`` /
                                                   ``conv_logits``
``roi_heads.maskiou_head.maskiou_fcn{k}``          ``roi_head.mask_iou_head.convs.{k-1}``
``roi_heads.maskiou_head.maskiou_fc{k}``           ``roi_head.mask_iou_head.fcs.{k-1}``
``roi_heads.maskiou_head.maskiou``                 ``roi_head.mask_iou_head.fc_mask_iou``
``sem_seg_head.p{l}.{2k}`` (+ ``.norm``)            ``semantic_head.conv_upsample_layers.{l-L}``
                                                   ``.conv.{k}.conv`` (``.gn``): Panoptic-CenterMask
``sem_seg_head.predictor``                         ``semantic_head.conv_logits``, the things
                                                   channel (detectron2's first) moved last
``pixel_mean`` / ``pixel_std``                     dropped; their values go to ``meta['input']``
=================================================  ===============================================

A Panoptic-CenterMask checkpoint (``sem_seg_head.*`` keys) has FPN laterals from P2 (``L = 2``):
its FCOS head reads P3-P7 (centermask2's ``FCOS.IN_FEATURES``), its semantic head P2-P5.

centermask2's MaskIoU head takes mask probabilities, mmdet's :class:`MaskIoUHead` takes logits
and applies the sigmoid itself: the same function, so the weights map one to one. The FCOS
towers must use GroupNorm (``MODEL.FCOS.NORM='GN'``, as in every centermask2 config).
"""
import math
import re
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.config import Config
from torch import Tensor

from mmdet.models.backbones.resnet import Bottleneck, ResNet
from ..models.backbones.vovnet import CENTERMASK2_PREFIX
from .common import (Conversion, ConversionError, KeyRule, MappedState, Shapes, apply_rules,
                     config_model_shapes, finish_conversion, input_meta, map_keys,
                     module_shapes)
from .mobilenet_v2 import centermask2_to_mobilenet_v2_keys, is_mobilenet_v2, mobilenet_v2_config
from .sem_seg_head import (SEM_SEG_LEVEL, is_panoptic, move_things_channel_last,
                           sem_seg_head_rules, semantic_head_config)
from .vovnet import DETECTRON2_INPUT, detectron2_to_vovnet_keys, select_vovnet_config

FCOS_PREFIX = 'proposal_generator.fcos_head.'
MASK_HEAD_PREFIX = 'roi_heads.mask_head.'
MASK_IOU_HEAD_PREFIX = 'roi_heads.maskiou_head.'
# centermask2's FCOS reads P3 and up (FCOS.IN_FEATURES), also when the FPN starts at P2
FCOS_LOWEST_LEVEL = 3
NORMALISATION_BUFFERS = ('pixel_mean', 'pixel_std')
FPN_LATERAL = r'backbone\.fpn_lateral(\d+)\.'
FPN_TOP_BLOCK = r'backbone\.top_block\.p(\d+)\.'
# FCOS tower children: conv, GroupNorm, ReLU (no parameters) per tower layer.
TOWER_CHILDREN = ('conv', 'gn')


def _resnet_block(match: re.Match) -> str:
    """``res{s}.{i}`` -> ``layer{s-1}.{i}``."""
    return f'layer{int(match[1]) - 1}.{match[2]}'


def _tower_layer(match: re.Match) -> Optional[str]:
    """``{cls,bbox}_tower.{3i+j}`` -> ``{cls,reg}_convs.{i}.{conv,gn}``."""
    index = int(match[2])
    if index % 3 >= len(TOWER_CHILDREN):
        return None
    branch = 'cls' if match[1] == 'cls' else 'reg'
    return f'bbox_head.{branch}_convs.{index // 3}.{TOWER_CHILDREN[index % 3]}.{match[3]}'


# Relative to ``backbone.bottom_up.``: detectron2's ResNet -> mmdet's ResNet.
RESNET_RULES: Tuple[KeyRule, ...] = (
    (r'stem\.conv1\.weight', lambda m: 'conv1.weight'),
    (r'stem\.conv1\.norm\.(\w+)', lambda m: f'bn1.{m[1]}'),
    (r'res(\d)\.(\d+)\.conv(\d)\.weight', lambda m: f'{_resnet_block(m)}.conv{m[3]}.weight'),
    (r'res(\d)\.(\d+)\.conv(\d)\.norm\.(\w+)', lambda m: f'{_resnet_block(m)}.bn{m[3]}.{m[4]}'),
    (r'res(\d)\.(\d+)\.shortcut\.weight', lambda m: f'{_resnet_block(m)}.downsample.0.weight'),
    (r'res(\d)\.(\d+)\.shortcut\.norm\.(\w+)',
     lambda m: f'{_resnet_block(m)}.downsample.1.{m[3]}'),
)
HEAD_RULES: Tuple[KeyRule, ...] = (
    (r'proposal_generator\.fcos_head\.(cls|bbox)_tower\.(\d+)\.(weight|bias)', _tower_layer),
    (r'proposal_generator\.fcos_head\.cls_logits\.(weight|bias)',
     lambda m: f'bbox_head.conv_cls.{m[1]}'),
    (r'proposal_generator\.fcos_head\.bbox_pred\.(weight|bias)',
     lambda m: f'bbox_head.conv_reg.{m[1]}'),
    (r'proposal_generator\.fcos_head\.ctrness\.(weight|bias)',
     lambda m: f'bbox_head.conv_centerness.{m[1]}'),
    (r'proposal_generator\.fcos_head\.scales\.(\d+)\.scale',
     lambda m: f'bbox_head.scales.{m[1]}.scale'),
    (r'roi_heads\.mask_head\.mask_fcn(\d+)\.(weight|bias)',
     lambda m: f'roi_head.mask_head.convs.{int(m[1]) - 1}.conv.{m[2]}'),
    (r'roi_heads\.mask_head\.spatialAtt\.conv\.weight',
     lambda m: 'roi_head.mask_head.spatial_attention.conv.weight'),
    (r'roi_heads\.mask_head\.deconv\.(weight|bias)',
     lambda m: f'roi_head.mask_head.upsample.{m[1]}'),
    (r'roi_heads\.mask_head\.predictor\.(weight|bias)',
     lambda m: f'roi_head.mask_head.conv_logits.{m[1]}'),
    (r'roi_heads\.maskiou_head\.maskiou_fcn(\d+)\.(weight|bias)',
     lambda m: f'roi_head.mask_iou_head.convs.{int(m[1]) - 1}.{m[2]}'),
    (r'roi_heads\.maskiou_head\.maskiou_fc(\d+)\.(weight|bias)',
     lambda m: f'roi_head.mask_iou_head.fcs.{int(m[1]) - 1}.{m[2]}'),
    (r'roi_heads\.maskiou_head\.maskiou\.(weight|bias)',
     lambda m: f'roi_head.mask_iou_head.fc_mask_iou.{m[1]}'),
)


def _levels(keys: List[str], pattern: str) -> List[int]:
    """Sorted distinct integers captured by ``pattern`` at the start of the keys."""
    return sorted({int(m[1]) for m in map(re.compile(pattern).match, keys) if m})


def _is_resnet(keys: List[str]) -> bool:
    """Whether the bottom-up backbone is detectron2's ResNet or ResNeXt."""
    return any(key.startswith(CENTERMASK2_PREFIX + 'stem.conv1.') for key in keys)


def _backbone_keys(keys: List[str]) -> Dict[str, Optional[str]]:
    """Targets of the ``backbone.bottom_up.`` keys (ResNet/ResNeXt, MobileNetV2 or VoVNet)."""
    keys = [key for key in keys if key.startswith(CENTERMASK2_PREFIX)]
    if _is_resnet(keys):
        targets = {key: apply_rules(key[len(CENTERMASK2_PREFIX):], RESNET_RULES) for key in keys}
    elif is_mobilenet_v2(keys):
        targets = centermask2_to_mobilenet_v2_keys(keys)
    else:
        targets = detectron2_to_vovnet_keys(keys)
    return {key: None if target is None else f'backbone.{target}'
            for key, target in targets.items()}


def centermask2_to_mmdet_keys(keys: List[str]) -> Dict[str, Optional[str]]:
    """Map the keys of a centermask2 checkpoint to mmdet CenterMask keys (module docstring).

    Args:
        keys (list[str]): All keys of the checkpoint (FPN levels are numbered from the lowest
            lateral level, and the backbone kind is told from the stem).

    Returns:
        dict[str, str | None]: The target of every key, None for keys of no rule.
    """
    keys = list(keys)
    laterals = _levels(keys, FPN_LATERAL)
    tops = _levels(keys, FPN_TOP_BLOCK)

    def fpn_conv(match: re.Match) -> Optional[str]:
        level = int(match[1])
        return (f'neck.fpn_convs.{laterals.index(level)}.conv.{match[2]}'
                if level in laterals else None)

    rules = HEAD_RULES + sem_seg_head_rules(_levels(keys, SEM_SEG_LEVEL)) + (
        (r'backbone\.fpn_lateral(\d+)\.(weight|bias)',
         lambda m: f'neck.lateral_convs.{laterals.index(int(m[1]))}.conv.{m[2]}'),
        (r'backbone\.fpn_output(\d+)\.(weight|bias)', fpn_conv),
        (r'backbone\.top_block\.p(\d+)\.(weight|bias)',
         lambda m: f'neck.fpn_convs.{len(laterals) + tops.index(int(m[1]))}.conv.{m[2]}'),
    )
    key_map = _backbone_keys(keys)
    key_map.update({key: apply_rules(key, rules) for key in keys if key not in key_map})
    return key_map


def _shape(source: Dict[str, Tensor], key: str) -> Tuple[int, ...]:
    """Shape of a source tensor the target model is inferred from."""
    if key not in source:
        raise ConversionError(f'{key} is missing, so the target model cannot be inferred from '
                              'the checkpoint; pass --config to convert against a config')
    return tuple(source[key].shape)


def _resnet_config(backbone: Dict[str, Tensor]) -> dict:
    """mmdet :class:`ResNet` config of converted ResNet tensors (depth from the block counts),
    or :class:`ResNeXt` where the first 3x3 conv is grouped (groups and width per group from its
    shape; ``style='pytorch'``, as every detectron2 ResNeXt has ``STRIDE_IN_1X1=False``)."""
    keys = list(backbone)
    blocks = tuple(len(_levels(keys, rf'layer{i}\.(\d+)\.')) for i in range(1, 5))
    bottleneck = any('.conv3.' in key for key in keys)
    depths = [
        depth for depth, (block, stage_blocks) in ResNet.arch_settings.items()
        if tuple(stage_blocks) == blocks and (block is Bottleneck) == bottleneck
    ]
    if not depths:
        raise ConversionError(f'a ResNet with {blocks} blocks per stage matches no mmdet ResNet '
                              'depth; pass --config to convert against a config')
    conv2 = backbone.get('layer1.0.conv2.weight')
    if conv2 is not None and conv2.shape[1] != conv2.shape[0]:  # grouped: ResNeXt
        # layer1's 3x3 conv is base_width * groups wide, base_width channels per group
        return dict(type='ResNeXt', depth=depths[0], groups=conv2.shape[0] // conv2.shape[1],
                    base_width=conv2.shape[1], style='pytorch')
    return dict(type='ResNet', depth=depths[0], style='caffe')


def _fpn_config(source: Dict[str, Tensor], laterals: List[int], tops: List[int]) -> dict:
    """mmdet :class:`FPN` config of detectron2 FPN keys (lateral levels ``laterals``) with an
    optional top block (levels ``tops``, P6/P7)."""
    if not laterals:
        raise ConversionError('no FPN keys (backbone.fpn_lateral*), so the target model cannot be '
                              'inferred; pass --config to convert against a config')
    in_channels = [_shape(source, f'backbone.fpn_lateral{level}.weight')[1] for level in laterals]
    out_channels = _shape(source, f'backbone.fpn_lateral{laterals[0]}.weight')[0]
    cfg = dict(
        type='FPN',
        in_channels=in_channels,
        out_channels=out_channels,
        num_outs=len(laterals) + len(tops))
    if tops:
        top_in_channels = _shape(source, f'backbone.top_block.p{tops[0]}.weight')[1]
        cfg.update(
            add_extra_convs='on_output' if top_in_channels == out_channels else 'on_input',
            relu_before_extra_convs=True)
    return cfg


def _fcos_config(source: Dict[str, Tensor], levels: List[int]) -> dict:
    """:class:`CenterMaskFCOSHead` config of centermask2's FCOS head keys."""
    tower_layers = _levels(list(source), re.escape(FCOS_PREFIX) + r'cls_tower\.(\d+)\.')
    stacked_convs = max(tower_layers) // 3 + 1 if tower_layers else 0
    feat_channels = _shape(source, FCOS_PREFIX + 'cls_logits.weight')[1]
    with_gn = FCOS_PREFIX + 'cls_tower.1.weight' in source
    return dict(
        type='CenterMaskFCOSHead',
        num_classes=_shape(source, FCOS_PREFIX + 'cls_logits.weight')[0],
        in_channels=(_shape(source, FCOS_PREFIX + 'cls_tower.0.weight')[1]
                     if stacked_convs else feat_channels),
        feat_channels=feat_channels,
        stacked_convs=stacked_convs,
        strides=[2**level for level in levels],
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True) if with_gn else None,
        conv_bias=True,
        centerness_on_reg=True,
        norm_on_bbox=True)


def _mask_head_config(source: Dict[str, Tensor]) -> dict:
    """:class:`SAGMaskHead` config of centermask2's SAG-Mask head keys."""
    first_conv = _shape(source, MASK_HEAD_PREFIX + 'mask_fcn1.weight')
    return dict(
        type='SAGMaskHead',
        num_convs=max(_levels(list(source), re.escape(MASK_HEAD_PREFIX) + r'mask_fcn(\d+)\.')),
        roi_feat_size=14,
        in_channels=first_conv[1],
        conv_out_channels=first_conv[0],
        num_classes=_shape(source, MASK_HEAD_PREFIX + 'predictor.weight')[0])


def _mask_iou_head_config(source: Dict[str, Tensor]) -> dict:
    """:class:`CenterMaskIoUHead` config of centermask2's MaskIoU head keys."""
    keys = list(source)
    first_conv = _shape(source, MASK_IOU_HEAD_PREFIX + 'maskiou_fcn1.weight')
    first_fc = _shape(source, MASK_IOU_HEAD_PREFIX + 'maskiou_fc1.weight')
    # The last conv halves the RoI size: fc1 takes conv_out_channels * (roi_feat_size / 2) ** 2.
    pooled_size = math.isqrt(first_fc[1] // first_conv[0])
    return dict(
        type='CenterMaskIoUHead',
        num_convs=max(_levels(keys, re.escape(MASK_IOU_HEAD_PREFIX) + r'maskiou_fcn(\d+)\.')),
        num_fcs=max(_levels(keys, re.escape(MASK_IOU_HEAD_PREFIX) + r'maskiou_fc(\d+)\.')),
        roi_feat_size=2 * pooled_size,
        in_channels=first_conv[1] - 1,
        conv_out_channels=first_conv[0],
        fc_out_channels=first_fc[0],
        num_classes=_shape(source, MASK_IOU_HEAD_PREFIX + 'maskiou.weight')[0])


def infer_centermask_parts(source: Dict[str, Tensor], mapped: MappedState) -> Dict[str, dict]:
    """Configs of the CenterMask parts that a centermask2 checkpoint describes.

    Only what decides the state dict is inferred (channels, numbers of layers and classes,
    backbone arch, DCN stages); the zoo configs set the rest.

    Args:
        source (dict[str, Tensor]): The centermask2 state dict.
        mapped (:obj:`MappedState`): Its tensors under mmdet keys.

    Returns:
        dict[str, dict]: Config by key prefix: ``backbone``, ``neck``, ``bbox_head``,
        ``roi_head.mask_head``, ``roi_head.mask_iou_head`` and, for Panoptic-CenterMask,
        ``semantic_head``.

    Raises:
        ConversionError: A tensor the inference needs is missing, or the backbone arch cannot
            be told.
    """
    backbone = {
        key[len('backbone.'):]: value
        for key, value in mapped.tensors.items() if key.startswith('backbone.')
    }
    keys = list(source)
    laterals = _levels(keys, FPN_LATERAL)
    tops = _levels(keys, FPN_TOP_BLOCK)
    neck_cfg = _fpn_config(source, laterals, tops)
    if _is_resnet(keys):
        backbone_cfg = _resnet_config(backbone)
    elif is_mobilenet_v2(keys):
        try:
            backbone_cfg = mobilenet_v2_config(neck_cfg['in_channels'])
        except KeyError as error:
            raise ConversionError(f'an FPN lateral takes {error} channels, which no MobileNetV2 '
                                  'layer outputs; pass --config') from error
    else:
        try:
            backbone_cfg = select_vovnet_config(backbone)
        except ConversionError as error:
            raise ConversionError(f'{error}; pass --config to convert against a config and see '
                                  'every difference') from error
    parts = {
        'backbone': backbone_cfg,
        'neck': neck_cfg,
        'bbox_head': _fcos_config(
            source, [level for level in laterals + tops if level >= FCOS_LOWEST_LEVEL]),
        'roi_head.mask_head': _mask_head_config(source),
        'roi_head.mask_iou_head': _mask_iou_head_config(source),
    }
    if is_panoptic(keys):
        parts['semantic_head'] = semantic_head_config(source, parts['bbox_head']['num_classes'])
    return parts


def _source_input(source: Dict[str, Tensor], notes: List[str]) -> dict:
    """The input normalisation of the checkpoint: its ``pixel_mean``/``pixel_std`` buffers if
    it has them, else detectron2's defaults; BGR (detectron2's ``INPUT.FORMAT`` default)."""
    input_cfg = dict(DETECTRON2_INPUT)
    for buffer, field in zip(NORMALISATION_BUFFERS, ('mean', 'std')):
        if buffer in source:
            input_cfg[field] = [round(float(v), 4) for v in source[buffer].flatten()]
        else:
            notes.append(f"no {buffer} in the checkpoint: assuming detectron2's default "
                         f'{input_cfg[field]}')
    notes.append("channel order BGR assumed (detectron2's INPUT.FORMAT default, kept by every "
                 'centermask2 config; checkpoints do not record it)')
    return input_cfg


def _config_input_note(config: Config, data_preprocessor: dict) -> List[str]:
    """A warning if the config's data preprocessor does not normalise as the weights expect."""
    config_preprocessor = config.model.get('data_preprocessor') or {}
    got = [config_preprocessor.get(name) for name in ('mean', 'std', 'bgr_to_rgb')]
    want = [data_preprocessor[name] for name in ('mean', 'std', 'bgr_to_rgb')]
    if (got[0] is not None and got[1] is not None and np.allclose(got[0], want[0])
            and np.allclose(got[1], want[1]) and bool(got[2]) == want[2]):
        return []
    return [f"WARNING: the config's data_preprocessor has mean={got[0]}, std={got[1]}, "
            f'bgr_to_rgb={got[2]}, but the weights expect mean={want[0]}, std={want[1]}, '
            f'bgr_to_rgb={want[2]}']


def convert_centermask2(source: Dict[str, Tensor],
                        config: Optional[Config] = None) -> Conversion:
    """Convert a centermask2 checkpoint to an mmdet CenterMask state dict.

    Args:
        source (dict[str, Tensor]): The centermask2 state dict (``checkpoint['model']``).
        config (:obj:`Config`, optional): An mmdet config whose model is the target. Defaults
            to None: the target is built from the parts the checkpoint describes
            (:func:`infer_centermask_parts`).

    Returns:
        :obj:`Conversion`: The result; ``meta`` holds ``source``, ``model_parts`` (the
        inferred part configs) or ``config`` (its file), and the input normalisation the weights
        expect.

    Raises:
        ConversionError: The target model cannot be inferred.
    """
    dropped = {
        key: 'detectron2 input normalisation (its values are in meta["input"])'
        for key in NORMALISATION_BUFFERS if key in source
    }
    mapped = map_keys(source, centermask2_to_mmdet_keys(list(source)), dropped)
    scales = [key for key in mapped.tensors if re.fullmatch(r'bbox_head\.scales\.\d+\.scale', key)]
    for key in scales:
        if mapped.tensors[key].numel() == 1:
            mapped.tensors[key] = mapped.tensors[key].reshape(())
    if scales:
        mapped.notes.append(f'{len(scales)} FCOS scales reshaped from [1] to [] (mmcv Scale)')
    if is_panoptic(list(source)):
        move_things_channel_last(mapped)
    if _is_resnet(list(source)):
        mapped.notes.append('ResNet: mmdet style="caffe" puts the stride in the 1x1 conv, as '
                            'detectron2 does with RESNETS.STRIDE_IN_1X1=True (its default); '
                            'ResNeXt: style="pytorch", the stride in the 3x3 conv '
                            '(STRIDE_IN_1X1=False, as in centermask2\'s X-101 configs)')
    meta = dict(source='centermask2', **input_meta(**_source_input(source, mapped.notes)))
    target_shapes: Shapes
    if config is None:
        parts = infer_centermask_parts(source, mapped)
        meta['model_parts'] = parts
        target_shapes = {
            f'{prefix}.{key}': shape
            for prefix, cfg in parts.items() for key, shape in module_shapes(cfg).items()
        }
    else:
        meta['config'] = config.filename
        mapped.notes += _config_input_note(config, meta['data_preprocessor'])
        target_shapes = config_model_shapes(config)
    return finish_conversion(mapped, target_shapes, meta)
