"""Independent forwards of centermask2's (detectron2's) and timm's backbones, written from their source code
with ``torch.nn.functional`` only and read from centermask2-layout state dicts: what the
converted mmdet backbones must reproduce exactly."""
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmcv.ops import modulated_deform_conv2d
from torch import Tensor

BOTTOM_UP = 'backbone.bottom_up.'
# centermask2's MobileNetV2 inverted residual settings: expand ratio, channels, blocks, stride
MOBILENET_V2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
MOBILENET_V2_RETURNED = (3, 6, 13, 17)  # features.{i} returned as res2..res5


def batch_norm(sd: Dict[str, Tensor], prefix: str, x: Tensor) -> Tensor:
    return F.batch_norm(x, sd[f'{prefix}.running_mean'], sd[f'{prefix}.running_var'],
                        sd[f'{prefix}.weight'], sd[f'{prefix}.bias'], False, 0.0, 1e-5)


def grouped_conv(x: Tensor, weight: Tensor, **kwargs) -> Tensor:
    """A convolution whose groups follow from the weight's input channels."""
    return F.conv2d(x, weight, groups=x.shape[1] // weight.shape[1], **kwargs)


def reference_resnet(sd: Dict[str, Tensor], x: Tensor, stride_in_1x1: bool = True) -> List[Tensor]:
    """res2..res5 outputs of detectron2's bottleneck ResNet or ResNeXt (grouped 3x3 convs);
    ``RESNETS.STRIDE_IN_1X1`` puts a block's stride in its 1x1 (True) or 3x3 conv."""
    x = F.conv2d(x, sd[f'{BOTTOM_UP}stem.conv1.weight'], stride=2, padding=3)
    x = F.max_pool2d(F.relu(batch_norm(sd, f'{BOTTOM_UP}stem.conv1.norm', x)), 3, 2, 1)
    outs = []
    for stage in range(2, 6):
        b = 0
        while f'{BOTTOM_UP}res{stage}.{b}.conv1.weight' in sd:
            block = f'{BOTTOM_UP}res{stage}.{b}'
            stride = 2 if stage > 2 and b == 0 else 1
            stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
            shortcut = x
            if f'{block}.shortcut.weight' in sd:
                shortcut = batch_norm(sd, f'{block}.shortcut.norm',
                                      F.conv2d(x, sd[f'{block}.shortcut.weight'], stride=stride))
            y = F.relu(batch_norm(sd, f'{block}.conv1.norm',
                                  F.conv2d(x, sd[f'{block}.conv1.weight'], stride=stride_1x1)))
            y = F.relu(batch_norm(sd, f'{block}.conv2.norm', grouped_conv(
                y, sd[f'{block}.conv2.weight'], stride=stride_3x3, padding=1)))
            y = batch_norm(sd, f'{block}.conv3.norm', F.conv2d(y, sd[f'{block}.conv3.weight']))
            x = F.relu(y + shortcut)
            b += 1
        outs.append(x)
    return outs


def reference_mobilenet_v2(sd: Dict[str, Tensor], x: Tensor) -> List[Tensor]:
    """res2..res5 outputs of centermask2's MobileNetV2 (``features.3/6/13/17``): a 3x3 stride-2
    stem, then inverted residual blocks (1x1 expand unless the ratio is 1, 3x3 depthwise with the
    stride, linear 1x1; identity added where the stride is 1 and the channels stay), ReLU6."""
    prefix = f'{BOTTOM_UP}features.'
    x = F.relu6(batch_norm(sd, f'{prefix}0.1', F.conv2d(
        x, sd[f'{prefix}0.0.weight'], stride=2, padding=1)))
    outs, index, in_channels = [], 1, x.shape[1]
    for expand_ratio, channels, num_blocks, first_stride in MOBILENET_V2_SETTINGS:
        for block in range(num_blocks):
            stride = first_stride if block == 0 else 1
            unit = f'{prefix}{index}.conv.'
            y, depthwise = x, 0
            if expand_ratio != 1:
                y = F.relu6(batch_norm(sd, f'{unit}1', F.conv2d(y, sd[f'{unit}0.weight'])))
                depthwise = 3
            y = F.relu6(batch_norm(sd, f'{unit}{depthwise + 1}', grouped_conv(
                y, sd[f'{unit}{depthwise}.weight'], stride=stride, padding=1)))
            y = batch_norm(sd, f'{unit}{depthwise + 4}',
                           F.conv2d(y, sd[f'{unit}{depthwise + 3}.weight']))
            x = x + y if stride == 1 and in_channels == channels else y
            in_channels = channels
            if index in MOBILENET_V2_RETURNED:
                outs.append(x)
            index += 1
    return outs


def assert_equal(outs: List[Tensor], refs: List[Tensor]) -> None:
    assert len(outs) == len(refs)
    for out, ref in zip(outs, refs):
        assert out.shape == ref.shape
        assert ref.abs().max() > 0
        torch.testing.assert_close(out, ref, rtol=0, atol=0)


class Centermask2Names:
    """Parameter names of a centermask2 VoVNet (``prefix`` + ``stage3.OSA3_1...``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def stem(self, i: int) -> str:
        return f'{self.prefix}stem.stem_{i + 1}'

    def block(self, s: int, b: int) -> str:
        return f'{self.prefix}stage{s + 2}.OSA{s + 2}_{b + 1}'

    def reduction(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.conv_reduction.OSA{s + 2}_{b + 1}_reduction_0'

    def layer(self, s: int, b: int, k: int) -> str:
        return f'{self.block(s, b)}.layers.{k}.OSA{s + 2}_{b + 1}_{k}'

    def concat(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.concat.OSA{s + 2}_{b + 1}_concat'

    def attention(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.ese.fc'

    @staticmethod
    def unit(name: str) -> Dict[str, str]:
        return dict(conv=f'{name}/conv.weight', norm=f'{name}/norm', offset=f'{name}/conv_offset',
                    dw=f'{name}/dw_conv3x3.weight', pw=f'{name}/pw_conv1x1.weight',
                    pw_norm=f'{name}/pw_norm')


class TimmNames:
    """Parameter names of a timm VoVNet (``stages.{s}.blocks.{b}...``)."""

    @staticmethod
    def stem(i: int) -> str:
        return f'stem.{i}'

    @staticmethod
    def block(s: int, b: int) -> str:
        return f'stages.{s}.blocks.{b}'

    def reduction(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.conv_reduction'

    def layer(self, s: int, b: int, k: int) -> str:
        return f'{self.block(s, b)}.conv_mid.{k}'

    def concat(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.conv_concat'

    def attention(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.attn.fc'

    @staticmethod
    def unit(name: str) -> Dict[str, str]:
        return dict(conv=f'{name}.conv.weight', norm=f'{name}.bn', offset=f'{name}.conv_offset',
                    dw=f'{name}.conv_dw.weight', pw=f'{name}.conv_pw.weight', pw_norm=f'{name}.bn')


def conv_unit(sd: Dict[str, Tensor], names: Dict[str, str], x: Tensor, stride: int = 1) -> Tensor:
    """conv (plain, modulated deformable or depthwise-separable) -> BN -> ReLU."""
    if names['dw'] in sd:
        weight = sd[names['dw']]
        x = F.conv2d(x, weight, stride=stride, padding=1, groups=weight.shape[0])
        return F.relu(batch_norm(sd, names['pw_norm'], F.conv2d(x, sd[names['pw']])))
    weight = sd[names['conv']]
    if f'{names["offset"]}.weight' in sd:  # DCNv2 as centermask2 computes it
        offset_x, offset_y, mask = F.conv2d(x, sd[f'{names["offset"]}.weight'],
                                            sd[f'{names["offset"]}.bias'], padding=1).chunk(3, 1)
        x = modulated_deform_conv2d(x, torch.cat((offset_x, offset_y), 1), mask.sigmoid(),
                                    weight, None, 1, 1, 1, 1, 1)
    else:
        x = F.conv2d(x, weight, stride=stride, padding=weight.shape[-1] // 2)
    return F.relu(batch_norm(sd, names['norm'], x))


def reference_vovnet(sd: Dict[str, Tensor], names, x: Tensor) -> List[Tensor]:
    """Stage 2..5 outputs of a VoVNet given by its state dict; an eSE where the dict has one,
    identity additions in the 2nd and later blocks of a stage."""

    def has(unit: str) -> bool:
        return any(key in sd for key in (names.unit(unit)['conv'], names.unit(unit)['dw']))

    for i, stride in enumerate((2, 1, 2)):
        x = conv_unit(sd, names.unit(names.stem(i)), x, stride)
    outs = []
    for s in range(4):
        if s > 0:
            x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        b = 0
        while has(names.concat(s, b)):
            feats = [x]
            y = conv_unit(sd, names.unit(names.reduction(s, b)), x) if has(
                names.reduction(s, b)) else x
            k = 0
            while has(names.layer(s, b, k)):
                y = conv_unit(sd, names.unit(names.layer(s, b, k)), y)
                feats.append(y)
                k += 1
            y = conv_unit(sd, names.unit(names.concat(s, b)), torch.cat(feats, 1))
            fc = names.attention(s, b)
            if f'{fc}.weight' in sd:
                y = y * F.hardsigmoid(
                    F.conv2d(y.mean((2, 3), keepdim=True), sd[f'{fc}.weight'], sd[f'{fc}.bias']))
            x = y + x if b > 0 else y
            b += 1
        outs.append(x)
    return outs
