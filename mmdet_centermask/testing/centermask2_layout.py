"""centermask2 checkpoints made from our models' state dicts: centermask2's key names and quirks
(FCOS scales of shape [1], FrozenBN without ``num_batches_tracked``, ``pixel_mean``/``pixel_std``)
through the inverse of the converter's name map, with random values of plausible scale."""
import re
from typing import Callable, Dict, List, Tuple

import torch
from torch import Tensor

FCOS = 'proposal_generator.fcos_head.'
MASK = 'roi_heads.mask_head.'
MASKIOU = 'roi_heads.maskiou_head.'
BOTTOM_UP = 'backbone.bottom_up.'
DETECTRON2_MEAN = [103.53, 116.28, 123.675]


def random_values(state: Dict[str, Tensor], seed: int) -> Dict[str, Tensor]:
    """Random values of plausible scale for every tensor (BN statistics included) of a state
    dict, which may live on the meta device."""
    generator = torch.Generator().manual_seed(seed)

    def rand(shape: torch.Size) -> Tensor:
        return torch.rand(shape, generator=generator)

    out = {}
    for key, value in state.items():
        if key.endswith('num_batches_tracked'):
            out[key] = torch.tensor(0)
        elif value.dim() >= 2:
            fan_in = value[0].numel()
            out[key] = torch.randn(value.shape, generator=generator) * (2 / fan_in)**0.5
        elif key.endswith(('running_mean', 'bias')):
            out[key] = (rand(value.shape) - 0.5) * 0.2
        else:  # norm weights, running variances, FCOS scales
            out[key] = rand(value.shape) + 0.5
    return out


def _res(match: re.Match) -> str:
    return f'{BOTTOM_UP}res{int(match[1]) + 1}.{match[2]}'


# the children of a VoVNet conv unit: centermask2 names them `{unit}/{child}`, we `{unit}_{child}`
VOVNET_UNIT_CHILD = re.compile(r'_(dw_conv3x3|pw_conv1x1|pw_norm|conv|norm)\.')


def vovnet_unit_child(key: str) -> str:
    """``stem.stem_1_conv.weight`` -> ``stem.stem_1/conv.weight`` (centermask2's name)."""
    return VOVNET_UNIT_CHILD.sub(lambda m: f'/{m[1]}.', key, count=1)


# centermask2's MobileNetV2 numbers its blocks 1..17 in one list; mmdet groups them in 7 layers
MOBILENET_V2_FIRST_BLOCK = {1: 1, 2: 2, 3: 4, 4: 7, 5: 11, 6: 14, 7: 17}
# unit -> (conv, BN) indices in a block's ``conv`` Sequential; layer1 blocks have no expand conv
MOBILENET_V2_UNITS = {'expand': (0, 1), 'depthwise': (3, 4), 'linear': (6, 7)}
MOBILENET_V2_UNITS_WITHOUT_EXPAND = {'depthwise': (0, 1), 'linear': (3, 4)}


def _mobilenet_v2_unit(match: re.Match) -> str:
    layer, block, unit, child, param = int(match[1]), int(match[2]), match[3], match[4], match[5]
    units = MOBILENET_V2_UNITS_WITHOUT_EXPAND if layer == 1 else MOBILENET_V2_UNITS
    index = units[unit][child == 'bn']
    return f'{BOTTOM_UP}features.{MOBILENET_V2_FIRST_BLOCK[layer] + block}.conv.{index}.{param}'


# Our mmdet keys -> centermask2 keys; the first matching pattern wins.
TO_CENTERMASK2: List[Tuple[str, Callable[[re.Match], str]]] = [
    (r'backbone\.conv1\.conv\.weight', lambda m: f'{BOTTOM_UP}features.0.0.weight'),
    (r'backbone\.conv1\.bn\.(\w+)', lambda m: f'{BOTTOM_UP}features.0.1.{m[1]}'),
    (r'backbone\.layer(\d)\.(\d+)\.(expand|depthwise|linear)_conv\.(conv|bn)\.(\w+)',
     _mobilenet_v2_unit),
    (r'backbone\.(.+)_conv\.conv_offset\.(\w+)', lambda m: f'{BOTTOM_UP}{m[1]}/conv_offset.{m[2]}'),
    (r'backbone\.((stem|stage\d)\..+)', lambda m: f'{BOTTOM_UP}{vovnet_unit_child(m[1])}'),
    (r'backbone\.conv1\.weight', lambda m: f'{BOTTOM_UP}stem.conv1.weight'),
    (r'backbone\.bn1\.(\w+)', lambda m: f'{BOTTOM_UP}stem.conv1.norm.{m[1]}'),
    (r'backbone\.layer(\d)\.(\d+)\.conv(\d)\.weight', lambda m: f'{_res(m)}.conv{m[3]}.weight'),
    (r'backbone\.layer(\d)\.(\d+)\.bn(\d)\.(\w+)', lambda m: f'{_res(m)}.conv{m[3]}.norm.{m[4]}'),
    (r'backbone\.layer(\d)\.(\d+)\.downsample\.0\.weight', lambda m: f'{_res(m)}.shortcut.weight'),
    (r'backbone\.layer(\d)\.(\d+)\.downsample\.1\.(\w+)',
     lambda m: f'{_res(m)}.shortcut.norm.{m[3]}'),
    (r'bbox_head\.(cls|reg)_convs\.(\d)\.(conv|gn)\.(\w+)',
     lambda m: f'{FCOS}{"cls" if m[1] == "cls" else "bbox"}_tower.'
     f'{3 * int(m[2]) + (m[3] == "gn")}.{m[4]}'),
    (r'bbox_head\.conv_cls\.(\w+)', lambda m: f'{FCOS}cls_logits.{m[1]}'),
    (r'bbox_head\.conv_reg\.(\w+)', lambda m: f'{FCOS}bbox_pred.{m[1]}'),
    (r'bbox_head\.conv_centerness\.(\w+)', lambda m: f'{FCOS}ctrness.{m[1]}'),
    (r'bbox_head\.scales\.(\d)\.scale', lambda m: f'{FCOS}scales.{m[1]}.scale'),
    (r'roi_head\.mask_head\.convs\.(\d)\.conv\.(\w+)',
     lambda m: f'{MASK}mask_fcn{int(m[1]) + 1}.{m[2]}'),
    (r'roi_head\.mask_head\.spatial_attention\.conv\.weight',
     lambda m: f'{MASK}spatialAtt.conv.weight'),
    (r'roi_head\.mask_head\.upsample\.(\w+)', lambda m: f'{MASK}deconv.{m[1]}'),
    (r'roi_head\.mask_head\.conv_logits\.(\w+)', lambda m: f'{MASK}predictor.{m[1]}'),
    (r'roi_head\.mask_iou_head\.convs\.(\d)\.(\w+)',
     lambda m: f'{MASKIOU}maskiou_fcn{int(m[1]) + 1}.{m[2]}'),
    (r'roi_head\.mask_iou_head\.fcs\.(\d)\.(\w+)',
     lambda m: f'{MASKIOU}maskiou_fc{int(m[1]) + 1}.{m[2]}'),
    (r'roi_head\.mask_iou_head\.fc_mask_iou\.(\w+)', lambda m: f'{MASKIOU}maskiou.{m[1]}'),
]


SEM_SEG = 'sem_seg_head.'
# Panoptic-CenterMask's semantic head: detectron2 keeps its Upsample layers between the convs
SEMANTIC_TO_CENTERMASK2: List[Tuple[str, Callable[[re.Match], str]]] = [
    (r'semantic_head\.conv_upsample_layers\.(\d)\.conv\.(\d)\.conv\.weight',
     lambda m: f'{SEM_SEG}p{int(m[1]) + 2}.{2 * int(m[2])}.weight'),
    (r'semantic_head\.conv_upsample_layers\.(\d)\.conv\.(\d)\.gn\.(\w+)',
     lambda m: f'{SEM_SEG}p{int(m[1]) + 2}.{2 * int(m[2])}.norm.{m[3]}'),
    (r'semantic_head\.conv_logits\.(\w+)', lambda m: f'{SEM_SEG}predictor.{m[1]}'),
]


def fpn_rules(lowest_level: int) -> List[Tuple[str, Callable[[re.Match], str]]]:
    """FPN keys of a centermask2 FPN whose laterals start at ``lowest_level`` (3; 2 in
    Panoptic-CenterMask), with the P6/P7 top block."""
    num_laterals = 6 - lowest_level
    return [
        (r'neck\.lateral_convs\.(\d)\.conv\.(\w+)',
         lambda m: f'backbone.fpn_lateral{int(m[1]) + lowest_level}.{m[2]}'),
        (r'neck\.fpn_convs\.(\d)\.conv\.(\w+)',
         lambda m: (f'backbone.fpn_output{int(m[1]) + lowest_level}.{m[2]}'
                    if int(m[1]) < num_laterals else
                    f'backbone.top_block.p{int(m[1]) - num_laterals + 6}.{m[2]}')),
    ]


def centermask2_key(key: str, lowest_fpn_level: int = 3) -> str:
    for pattern, to_source in TO_CENTERMASK2 + fpn_rules(lowest_fpn_level) + \
            SEMANTIC_TO_CENTERMASK2:
        match = re.fullmatch(pattern, key)
        if match:
            return to_source(match)
    raise KeyError(f'no centermask2 name for {key}')


def to_centermask2(state: Dict[str, Tensor], lowest_fpn_level: int = 3) -> Dict[str, Tensor]:
    """The centermask2 ``checkpoint['model']`` of an mmdet CenterMask or PanopticCenterMask state
    dict (FPN laterals from ``lowest_fpn_level``; the semantic predictor's things channel, mmdet's
    last, first as in detectron2)."""
    source = {
        centermask2_key(key, lowest_fpn_level): value.reshape(1) if '.scales.' in key else value
        for key, value in state.items() if not key.endswith('num_batches_tracked')  # FrozenBN
    }
    for param in ('weight', 'bias'):
        key = f'{SEM_SEG}predictor.{param}'
        if key in source:
            source[key] = torch.cat([source[key][-1:], source[key][:-1]])
    source['pixel_mean'] = torch.tensor(DETECTRON2_MEAN).view(3, 1, 1)
    source['pixel_std'] = torch.ones(3, 1, 1)
    return source


def detectron2_sem_seg_logits(source: Dict[str, Tensor], feats: List[Tensor]) -> Tensor:
    """detectron2 ``SemSegFPNHead.layers`` on P2-P5 ``feats`` from the ``sem_seg_head.*`` tensors
    of ``source`` (GroupNorm with 32 groups): per level ``p{l}`` ``max(1, l - 2)`` blocks of conv
    (child ``2k``), GN, ReLU and, below stride 4, 2x bilinear upsampling; the sum, then the 1x1
    predictor (things channel first)."""
    import torch.nn.functional as F

    total = None
    for level, feat in enumerate(feats, start=2):
        x = feat
        for k in range(max(1, level - 2)):
            name = f'{SEM_SEG}p{level}.{2 * k}'
            x = F.conv2d(x, source[f'{name}.weight'], padding=1)
            x = F.relu(F.group_norm(x, 32, source[f'{name}.norm.weight'],
                                    source[f'{name}.norm.bias']))
            if level > 2:
                x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
        total = x if total is None else total + x
    return F.conv2d(total, source[f'{SEM_SEG}predictor.weight'], source[f'{SEM_SEG}predictor.bias'])
