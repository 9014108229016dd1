"""detectron2's ``SemSegFPNHead`` (the semantic branch of centermask2's Panoptic-CenterMask) to
:class:`SemSegFPNHead`: key rules, the inferred config and the predictor's channel order.

detectron2 builds each FPN level ``p{l}`` of the head as an ``nn.Sequential`` of conv (with its
GroupNorm as ``.norm``) and, below the common stride, ``nn.Upsample`` layers: conv ``k`` is child
``2k``. mmdet's :class:`ConvUpsample` keeps the convs alone in ``conv.{k}`` (``.conv``, ``.gn``).
"""
import re
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from .common import ConversionError, KeyRule, MappedState

SEM_SEG_PREFIX = 'sem_seg_head.'
SEM_SEG_LEVEL = r'sem_seg_head\.p(\d+)\.'
SEM_SEG_PREDICTOR = 'semantic_head.conv_logits.'


def is_panoptic(keys: List[str]) -> bool:
    """Whether the checkpoint is a Panoptic-CenterMask (it has a semantic head)."""
    return any(key.startswith(SEM_SEG_PREFIX) for key in keys)


def sem_seg_head_rules(levels: List[int]) -> Tuple[KeyRule, ...]:
    """Key rules of the semantic head whose FPN levels are ``levels`` (e.g. ``[2, 3, 4, 5]``)."""

    def conv(match: re.Match) -> Optional[str]:
        """``p{l}.{2k}[.norm].{param}``: the k-th conv of level l (Upsample layers between)."""
        layer = int(match[2])
        if layer % 2:
            return None
        child = 'gn' if match[3] else 'conv'
        return (f'semantic_head.conv_upsample_layers.{levels.index(int(match[1]))}'
                f'.conv.{layer // 2}.{child}.{match[4]}')

    return (
        (r'sem_seg_head\.p(\d+)\.(\d+)\.(norm\.)?(weight|bias)', conv),
        (r'sem_seg_head\.predictor\.(weight|bias)', lambda m: f'{SEM_SEG_PREDICTOR}{m[1]}'),
    )


def semantic_head_config(source: Dict[str, Tensor], num_things_classes: int) -> dict:
    """:class:`SemSegFPNHead` config of detectron2's ``SemSegFPNHead`` keys.

    Raises:
        ConversionError: A tensor the inference needs is missing.
    """
    levels = sorted({int(m[1]) for m in map(re.compile(SEM_SEG_LEVEL).match, source) if m})
    first_conv_key = f'{SEM_SEG_PREFIX}p{levels[0]}.0.weight'
    for key in (first_conv_key, SEM_SEG_PREFIX + 'predictor.weight'):
        if key not in source:
            raise ConversionError(f'{key} is missing, so the semantic head cannot be inferred '
                                  'from the checkpoint; pass --config to convert against a config')
    first_conv = tuple(source[first_conv_key].shape)
    return dict(
        type='SemSegFPNHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=source[SEM_SEG_PREFIX + 'predictor.weight'].shape[0] - 1,
        in_channels=first_conv[1],
        inner_channels=first_conv[0],
        start_level=0,
        end_level=len(levels),
        norm_cfg=(dict(type='GN', num_groups=32, requires_grad=True)
                  if f'{SEM_SEG_PREFIX}p{levels[0]}.0.norm.weight' in source else None))


def move_things_channel_last(mapped: MappedState) -> None:
    """detectron2's semantic predictor has the things class first, mmdet's last."""
    for param in ('weight', 'bias'):
        key = SEM_SEG_PREDICTOR + param
        if key in mapped.tensors:
            tensor = mapped.tensors[key]
            mapped.tensors[key] = torch.cat([tensor[1:], tensor[:1]])
    mapped.notes.append('semantic predictor: the things channel moved from first (detectron2) '
                        'to last (mmdet), the stuff channels keep their order')
