"""timm VoVNet checkpoints for tests: the key names and shapes of timm's ``ese_vovnet*b`` models
(``stem.{i}``, ``stages.{s}.blocks.{b}.conv_mid.{k}``, eSE only in the last block of a stage)
with random values of plausible scale."""
from typing import Dict, Tuple

import torch
from torch import Tensor

from .centermask2_layout import random_values

# timm's ``model_cfgs``: stem channels, stage conv channels, stage out channels, convs per block,
# blocks per stage, depthwise.
TIMM_SPECS = {
    'V-19-slim-dw': ((64, 64, 64), (64, 80, 96, 112), (112, 256, 384, 512), 3, (1, 1, 1, 1), True),
    'V-19-dw': ((64, 64, 64), (128, 160, 192, 224), (256, 512, 768, 1024), 3, (1, 1, 1, 1), True),
    'V-19-slim': ((64, 64, 128), (64, 80, 96, 112), (112, 256, 384, 512), 3, (1, 1, 1, 1), False),
    'V-19': ((64, 64, 128), (128, 160, 192, 224), (256, 512, 768, 1024), 3, (1, 1, 1, 1), False),
    'V-39': ((64, 64, 128), (128, 160, 192, 224), (256, 512, 768, 1024), 5, (1, 1, 2, 2), False),
    'V-57': ((64, 64, 128), (128, 160, 192, 224), (256, 512, 768, 1024), 5, (1, 1, 4, 3), False),
    'V-99': ((64, 64, 128), (128, 160, 192, 224), (256, 512, 768, 1024), 5, (1, 3, 9, 3), False),
}


def timm_state_dict(arch: str, seed: int) -> Dict[str, Tensor]:
    """A timm ``ese_vovnet*b`` state dict (random values) from timm's key patterns."""
    stem, mid, out, num_convs, num_blocks, depthwise = TIMM_SPECS[arch]
    shapes: Dict[str, Tuple[int, ...]] = {}

    def unit(name: str, in_channels: int, out_channels: int, kernel: int,
             separable: bool = False) -> None:
        if separable:
            shapes[f'{name}.conv_dw.weight'] = (in_channels, 1, 3, 3)
            shapes[f'{name}.conv_pw.weight'] = (out_channels, in_channels, 1, 1)
        else:
            shapes[f'{name}.conv.weight'] = (out_channels, in_channels, kernel, kernel)
        for param in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'):
            shapes[f'{name}.bn.{param}'] = () if param == 'num_batches_tracked' else (out_channels,)

    unit('stem.0', 3, stem[0], 3)
    unit('stem.1', stem[0], stem[1], 3, depthwise)
    unit('stem.2', stem[1], stem[2], 3, depthwise)
    in_channels = stem[2]
    for s in range(4):
        for b in range(num_blocks[s]):
            block = f'stages.{s}.blocks.{b}'
            conv_in = in_channels
            if depthwise and in_channels != mid[s]:
                unit(f'{block}.conv_reduction', in_channels, mid[s], 1)
                conv_in = mid[s]
            for k in range(num_convs):
                unit(f'{block}.conv_mid.{k}', conv_in, mid[s], 3, depthwise)
                conv_in = mid[s]
            unit(f'{block}.conv_concat', in_channels + num_convs * mid[s], out[s], 1)
            if b == num_blocks[s] - 1:
                shapes[f'{block}.attn.fc.weight'] = (out[s], out[s], 1, 1)
                shapes[f'{block}.attn.fc.bias'] = (out[s], )
            in_channels = out[s]
    shapes['head.fc.weight'] = (1000, in_channels)
    shapes['head.fc.bias'] = (1000, )
    return random_values({key: torch.empty(shape, device='meta') for key, shape in shapes.items()},
                         seed)
