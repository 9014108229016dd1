from typing import Sequence, Tuple, Union

from mmengine.model import BaseModule, Sequential
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

from ..layers import OSABlock, conv_norm_relu, dw_conv_norm_relu

CENTERMASK2_PREFIX = 'backbone.bottom_up.'


def centermask2_to_vovnet_key(key: str) -> str:
    """Map a centermask2 / vovnet-detectron2 VoVNet state-dict key to a :class:`VoVNet` key.

    :class:`VoVNet` keeps centermask2's module names with ``_`` for ``/`` (``stem_1/conv`` ->
    ``stem_1_conv``), so the map strips the ``backbone.bottom_up.`` prefix, moves a DCN offset
    conv into mmcv's ``ModulatedDeformConv2dPack`` and replaces the ``/``, e.g.
    ``stage3.OSA3_1.layers.0.OSA3_1_0/conv_offset.bias`` ->
    ``stage3.OSA3_1.layers.0.OSA3_1_0_conv.conv_offset.bias``.

    Args:
        key (str): Key of a centermask2 checkpoint (with or without the prefix).

    Returns:
        str: The key in :class:`VoVNet`'s state dict.
    """
    if key.startswith(CENTERMASK2_PREFIX):
        key = key[len(CENTERMASK2_PREFIX):]
    return key.replace('/conv_offset.', '/conv.conv_offset.').replace('/', '_')


def _rename_slash_keys(state_dict: dict, prefix: str, *args) -> None:
    """``load_state_dict`` pre-hook: the keys of VoVNet checkpoints converted before the module
    names lost their ``/`` (``stem.stem_1/conv.weight``) load under the new names."""
    for key in [k for k in state_dict if k.startswith(prefix) and '/' in k[len(prefix):]]:
        state_dict[prefix + key[len(prefix):].replace('/', '_')] = state_dict.pop(key)


@MODELS.register_module()
class VoVNet(BaseModule):
    """VoVNet and VoVNetV2 backbones.

    VoVNet: `An Energy and GPU-Computation Efficient Backbone Network for Real-Time Object
    Detection (Lee et al., CVPR-W 2019) <https://arxiv.org/abs/1904.09730>`_. VoVNetV2:
    `CenterMask: Real-Time Anchor-Free Instance Segmentation (CVPR 2020) Sec. 2.5
    <https://arxiv.org/abs/1911.06667>`_, which adds an effective Squeeze-Excitation (eSE) to every
    One-Shot Aggregation (OSA) block and an identity connection to every block but the first of a
    stage.

    A stem of three 3x3 conv units (strides 2, 1, 2) is followed by four stages ``stage2`` ..
    ``stage5`` at strides 4, 8, 16, 32; stages 3 to 5 start with a 3x3 stride-2 max pooling
    (``ceil_mode=True``). Module names follow centermask2 with ``_`` for ``/`` (which torch's
    tracer and mmengine's FLOP counter take for a path separator), so its ImageNet and CenterMask
    weights load after :func:`centermask2_to_vovnet_key`; checkpoints converted with the earlier
    ``/`` names still load.

    The ``arch`` names are those of centermask2 without the ``-eSE`` suffix. The VoVNet (V1)
    backbones are ``arch='V-39'`` or ``'V-57'`` with ``with_ese=False, with_identity=False``.

    Args:
        arch (str | dict): One of :attr:`arch_settings`, or a dict with the same keys.
        in_channels (int): Number of input image channels. Defaults to 3.
        out_indices (Sequence[int]): Stages whose outputs are returned, 0 for ``stage2``.
            Defaults to (0, 1, 2, 3).
        frozen_stages (int): Stages to freeze (parameters fixed, norm layers in eval mode):
            -1 none, 0 the stem, ``i`` the stem and ``stage2`` .. ``stage{i+1}``. Defaults to -1.
        with_ese (bool): Put an eSE in every OSA block (VoVNetV2). Defaults to True.
        with_identity (bool): Identity connection in every OSA block but the first of a stage
            (VoVNetV2). Defaults to True.
        norm_cfg (dict): Config of the norm layers. Defaults to
            ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep the BN layers in eval mode (running statistics fixed) in training.
            Defaults to True.
        with_cp (bool): Checkpoint every OSA block in training to save memory at the cost of a
            second forward. Defaults to False.
        dcn (dict, optional): Config of a deformable conv replacing the 3x3 convs of the OSA blocks
            of the stages chosen by ``stage_with_dcn``, e.g.
            ``dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)``
            (``fallback_on_stride`` has no effect: these convs all have stride 1). Not supported
            for the depthwise archs. Defaults to None.
        stage_with_dcn (Sequence[bool]): Whether each stage uses ``dcn``.
            Defaults to (False, False, False, False).
        init_cfg (dict or list[dict], optional): Initialization config, e.g.
            ``dict(type='Pretrained', checkpoint=...)``. Defaults to None: Kaiming init of the
            convs and weight 1, bias 0 for the norm layers, as for mmdet's ResNet (the offset convs
            of DCNs start at zero).

    Example:
        >>> import torch
        >>> from mmdet_centermask.models import VoVNet
        >>> self = VoVNet(arch='V-19-slim-dw').eval()
        >>> outputs = self(torch.rand(1, 3, 64, 64))
        >>> for out in outputs:
        ...     print(tuple(out.shape))
        (1, 112, 16, 16)
        (1, 256, 8, 8)
        (1, 384, 4, 4)
        (1, 512, 2, 2)
    """

    arch_settings = {
        'V-19-slim-dw':
        dict(
            stem_channels=(64, 64, 64),
            stage_mid_channels=(64, 80, 96, 112),
            stage_out_channels=(112, 256, 384, 512),
            num_convs=3,
            num_blocks=(1, 1, 1, 1),
            depthwise=True),
        'V-19-dw':
        dict(
            stem_channels=(64, 64, 64),
            stage_mid_channels=(128, 160, 192, 224),
            stage_out_channels=(256, 512, 768, 1024),
            num_convs=3,
            num_blocks=(1, 1, 1, 1),
            depthwise=True),
        'V-19-slim':
        dict(
            stem_channels=(64, 64, 128),
            stage_mid_channels=(64, 80, 96, 112),
            stage_out_channels=(112, 256, 384, 512),
            num_convs=3,
            num_blocks=(1, 1, 1, 1),
            depthwise=False),
        'V-19':
        dict(
            stem_channels=(64, 64, 128),
            stage_mid_channels=(128, 160, 192, 224),
            stage_out_channels=(256, 512, 768, 1024),
            num_convs=3,
            num_blocks=(1, 1, 1, 1),
            depthwise=False),
        'V-39':
        dict(
            stem_channels=(64, 64, 128),
            stage_mid_channels=(128, 160, 192, 224),
            stage_out_channels=(256, 512, 768, 1024),
            num_convs=5,
            num_blocks=(1, 1, 2, 2),
            depthwise=False),
        'V-57':
        dict(
            stem_channels=(64, 64, 128),
            stage_mid_channels=(128, 160, 192, 224),
            stage_out_channels=(256, 512, 768, 1024),
            num_convs=5,
            num_blocks=(1, 1, 4, 3),
            depthwise=False),
        'V-99':
        dict(
            stem_channels=(64, 64, 128),
            stage_mid_channels=(128, 160, 192, 224),
            stage_out_channels=(256, 512, 768, 1024),
            num_convs=5,
            num_blocks=(1, 3, 9, 3),
            depthwise=False),
    }

    def __init__(self,
                 arch: Union[str, dict],
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 with_ese: bool = True,
                 with_identity: bool = True,
                 norm_cfg: ConfigType = dict(type='BN', requires_grad=True),
                 norm_eval: bool = True,
                 with_cp: bool = False,
                 dcn: OptConfigType = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 init_cfg: OptMultiConfig = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
            ]
        super().__init__(init_cfg=init_cfg)
        arch = self._get_arch(arch)
        num_stages = len(arch['num_blocks'])
        if any(not 0 <= i < num_stages for i in out_indices):
            raise ValueError(f'out_indices must be in [0, {num_stages}), got {out_indices}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}], got {frozen_stages}')
        if dcn is not None:
            if len(stage_with_dcn) != num_stages:
                raise ValueError(f'stage_with_dcn needs {num_stages} entries, got {stage_with_dcn}')
            if arch['depthwise'] and any(stage_with_dcn):
                raise ValueError('dcn is not supported for the depthwise VoVNets')
            dcn = dcn.copy()
            dcn.pop('fallback_on_stride', None)
        self.out_indices = tuple(out_indices)
        self._stage_out_channels = tuple(arch['stage_out_channels'])
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        self.stem = self._make_stem(in_channels, arch['stem_channels'], arch['depthwise'], norm_cfg)
        self.stage_names = []
        stage_in_channels = arch['stem_channels'][-1]
        for i in range(num_stages):
            stage = Sequential()
            if i > 0:
                stage.add_module('pool', nn.MaxPool2d(3, stride=2, ceil_mode=True))
            for j in range(arch['num_blocks'][i]):
                block_name = f'OSA{i + 2}_{j + 1}'
                stage.add_module(
                    block_name,
                    OSABlock(
                        stage_in_channels,
                        arch['stage_mid_channels'][i],
                        arch['stage_out_channels'][i],
                        arch['num_convs'],
                        block_name,
                        norm_cfg=norm_cfg,
                        depthwise=arch['depthwise'],
                        with_ese=with_ese,
                        with_identity=with_identity and j > 0,
                        dcn=dcn if dcn is not None and stage_with_dcn[i] else None,
                        with_cp=with_cp))
                stage_in_channels = arch['stage_out_channels'][i]
            stage_name = f'stage{i + 2}'
            self.add_module(stage_name, stage)
            self.stage_names.append(stage_name)
        self._freeze_stages()
        self._register_load_state_dict_pre_hook(_rename_slash_keys)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of the returned stage outputs, one per ``out_indices`` entry (what the neck's
        ``in_channels`` must be)."""
        return tuple(self._stage_out_channels[i] for i in self.out_indices)

    def _get_arch(self, arch: Union[str, dict]) -> dict:
        """Look up ``arch`` in :attr:`arch_settings`, or check the keys of a custom one."""
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ValueError(f'Unknown VoVNet arch {arch!r}, valid ones are '
                                 f'{sorted(self.arch_settings)}')
            return self.arch_settings[arch]
        keys = set(self.arch_settings['V-39'])
        if not isinstance(arch, dict) or set(arch) != keys:
            raise ValueError(f'A custom VoVNet arch must be a dict with the keys {sorted(keys)}, '
                             f'got {arch!r}')
        num_stages = len(arch['num_blocks'])
        if (len(arch['stem_channels']) != 3 or len(arch['stage_mid_channels']) != num_stages
                or len(arch['stage_out_channels']) != num_stages):
            raise ValueError('A custom VoVNet arch needs 3 stem_channels and as many '
                             f'stage_mid_channels and stage_out_channels as num_blocks, got {arch}')
        return arch

    @staticmethod
    def _make_stem(in_channels: int, stem_channels: Sequence[int], depthwise: bool,
                   norm_cfg: ConfigType) -> Sequential:
        """Three 3x3 conv units ``stem_1`` .. ``stem_3`` with strides 2, 1, 2; in the depthwise
        archs ``stem_2`` and ``stem_3`` are depthwise-separable."""
        stem = Sequential()
        for i, (out_channels, stride) in enumerate(zip(stem_channels, (2, 1, 2))):
            name = f'stem_{i + 1}'
            if depthwise and i > 0:
                unit = dw_conv_norm_relu(in_channels, out_channels, name, norm_cfg, stride=stride)
            else:
                unit = conv_norm_relu(in_channels, out_channels, name, norm_cfg, stride=stride)
            for child_name, child in unit.named_children():
                stem.add_module(child_name, child)
            in_channels = out_channels
        return stem

    def _freeze_stages(self) -> None:
        """Fix the parameters of the frozen stages and put their norm layers in eval mode."""
        for i in range(self.frozen_stages + 1):
            module = self.stem if i == 0 else getattr(self, self.stage_names[i - 1])
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Forward function.

        Args:
            x (Tensor): Images of shape (N, C, H, W).

        Returns:
            tuple[Tensor]: The outputs of the stages in ``out_indices``, ``stage{i+2}`` of shape
            (N, stage_out_channels[i], H_i, W_i) at stride ``2 ** (i + 2)``.
        """
        x = self.stem(x)
        outs = []
        for i, stage_name in enumerate(self.stage_names):
            x = getattr(self, stage_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'VoVNet':
        """Set the training mode, keeping the frozen stages and, with ``norm_eval``, all BN layers
        in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
