from collections import OrderedDict

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule, ModuleList, Sequential
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

from .ese import EffectiveSELayer


def conv_norm_relu(in_channels: int,
                   out_channels: int,
                   name: str,
                   norm_cfg: ConfigType,
                   kernel_size: int = 3,
                   stride: int = 1,
                   conv_cfg: OptConfigType = None) -> Sequential:
    """Conv (no bias) -> norm -> ReLU, the conv unit of VoVNet.

    The children are named ``{name}_conv``, ``{name}_norm`` and ``{name}_relu``: centermask2's
    ``{name}/conv`` ... with ``_`` for ``/``, which torch's tracer and mmengine's FLOP counter
    take for a module path separator (:func:`~mmdet_centermask.models.backbones.vovnet.
    centermask2_to_vovnet_key` maps the names).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        name (str): Prefix of the child names, e.g. ``'OSA3_1_0'``.
        norm_cfg (dict): Config of the norm layer.
        kernel_size (int): Kernel size; the padding keeps the size at stride 1. Defaults to 3.
        stride (int): Stride of the conv. Defaults to 1.
        conv_cfg (dict, optional): Config of the conv layer, e.g. ``dict(type='DCNv2')``.
            Defaults to None (``nn.Conv2d``).

    Returns:
        :obj:`mmengine.model.Sequential`: The unit.
    """
    conv = build_conv_layer(
        conv_cfg,
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        bias=False)
    return Sequential(
        OrderedDict([(f'{name}_conv', conv),
                     (f'{name}_norm', build_norm_layer(norm_cfg, out_channels)[1]),
                     (f'{name}_relu', nn.ReLU(inplace=True))]))


def dw_conv_norm_relu(in_channels: int,
                      out_channels: int,
                      name: str,
                      norm_cfg: ConfigType,
                      stride: int = 1) -> Sequential:
    """Depthwise-separable conv unit of the depthwise VoVNets.

    Depthwise 3x3 conv -> pointwise 1x1 conv (both without bias, nothing in between) -> norm ->
    ReLU, named ``{name}_dw_conv3x3``, ``{name}_pw_conv1x1``, ``{name}_pw_norm`` and
    ``{name}_pw_relu`` (centermask2's names with ``_`` for ``/``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        name (str): Prefix of the child names, e.g. ``'stem_2'``.
        norm_cfg (dict): Config of the norm layer.
        stride (int): Stride of the depthwise conv. Defaults to 1.

    Returns:
        :obj:`mmengine.model.Sequential`: The unit.
    """
    return Sequential(
        OrderedDict([
            (f'{name}_dw_conv3x3',
             nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False)),
            (f'{name}_pw_conv1x1', nn.Conv2d(in_channels, out_channels, 1, bias=False)),
            (f'{name}_pw_norm', build_norm_layer(norm_cfg, out_channels)[1]),
            (f'{name}_pw_relu', nn.ReLU(inplace=True)),
        ]))


class OSABlock(BaseModule):
    """One-Shot Aggregation (OSA) block of VoVNet and VoVNetV2.

    VoVNet (`Lee et al., CVPR-W 2019 <https://arxiv.org/abs/1904.09730>`_): a chain of 3x3 conv
    units, each fed by the previous one, whose outputs are concatenated once, together with the
    block input, and aggregated by a 1x1 conv unit. VoVNetV2
    (`CenterMask <https://arxiv.org/abs/1911.06667>`_ Sec. 2.5) adds an eSE on the aggregated
    feature and an identity connection from the block input (no ReLU after the addition).

    In depthwise variants the 3x3 units are depthwise-separable, preceded by a 1x1 conv unit
    (``conv_reduction``) when ``in_channels != mid_channels``; the concatenation still takes the
    unreduced input. Child names follow centermask2's with ``_`` for ``/``, e.g.
    ``layers.0.OSA3_1_0_conv``.

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Output channels of every 3x3 conv unit.
        out_channels (int): Output channels of the block.
        num_convs (int): Number of 3x3 conv units.
        name (str): Block name, prefix of the unit names, e.g. ``'OSA3_1'``.
        norm_cfg (dict): Config of the norm layers. Defaults to ``dict(type='BN')``.
        depthwise (bool): Use depthwise-separable 3x3 units. Defaults to False.
        with_ese (bool): Append an eSE. Defaults to True.
        with_identity (bool): Add the block input to the output; needs
            ``in_channels == out_channels``. Defaults to False.
        dcn (dict, optional): Config of a deformable conv replacing the 3x3 convs, e.g.
            ``dict(type='DCNv2', deform_groups=1)``. Not with ``depthwise``. Defaults to None.
        with_cp (bool): Use checkpointing in training to save memory at the cost of a second
            forward. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 out_channels: int,
                 num_convs: int,
                 name: str,
                 norm_cfg: ConfigType = dict(type='BN'),
                 depthwise: bool = False,
                 with_ese: bool = True,
                 with_identity: bool = False,
                 dcn: OptConfigType = None,
                 with_cp: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if with_identity and in_channels != out_channels:
            raise ValueError(f'{name}: an identity connection needs in_channels == out_channels, '
                             f'got {in_channels} and {out_channels}')
        if depthwise and dcn is not None:
            raise ValueError(f'{name}: deformable convs are not supported in depthwise blocks')
        self.with_identity = with_identity
        self.with_cp = with_cp

        conv_channels = in_channels
        self.conv_reduction = None
        if depthwise and in_channels != mid_channels:
            self.conv_reduction = conv_norm_relu(
                in_channels, mid_channels, f'{name}_reduction_0', norm_cfg, kernel_size=1)
            conv_channels = mid_channels
        self.layers = ModuleList()
        for i in range(num_convs):
            if depthwise:
                layer = dw_conv_norm_relu(conv_channels, mid_channels, f'{name}_{i}', norm_cfg)
            else:
                layer = conv_norm_relu(
                    conv_channels, mid_channels, f'{name}_{i}', norm_cfg, conv_cfg=dcn)
            self.layers.append(layer)
            conv_channels = mid_channels
        self.concat = conv_norm_relu(
            in_channels + num_convs * mid_channels,
            out_channels,
            f'{name}_concat',
            norm_cfg,
            kernel_size=1)
        self.ese = EffectiveSELayer(out_channels) if with_ese else None

    def forward(self, x: Tensor) -> Tensor:
        """Forward function.

        Args:
            x (Tensor): Input of shape (N, in_channels, H, W).

        Returns:
            Tensor: Output of shape (N, out_channels, H, W).
        """

        def _inner_forward(x: Tensor) -> Tensor:
            feats = [x]
            out = x if self.conv_reduction is None else self.conv_reduction(x)
            for layer in self.layers:
                out = layer(out)
                feats.append(out)
            out = self.concat(torch.cat(feats, dim=1))
            if self.ese is not None:
                out = self.ese(out)
            if self.with_identity:
                out = out + x
            return out

        if self.with_cp and self.training and x.requires_grad:
            return checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)
