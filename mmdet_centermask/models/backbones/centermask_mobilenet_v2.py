from typing import List, Sequence

from mmdet.models.backbones import MobileNetV2
from mmdet.models.utils import make_divisible
from mmdet.registry import MODELS


@MODELS.register_module()
class CenterMaskMobileNetV2(MobileNetV2):
    """The MobileNetV2 of CenterMask-Lite-Mv2 (centermask2 ``modeling/backbone/mobilenet.py``):
    mmdet's :class:`MobileNetV2` without the layers after its last output.

    centermask2's MobileNetV2 stops at the 320-channel ``features.17``: it has no final
    1280-channel 1x1 conv, which mmdet's builds (``conv2``) and runs in every forward. Here the
    layers after ``max(out_indices)`` are not built, so no parameter goes without a gradient and
    DDP needs no ``find_unused_parameters``. Everything else is mmdet's: ReLU6 units,
    ``out_indices`` numbered from 0 for ``layer1`` (2, 4 and 6 are centermask2's ``res3``,
    ``res4`` and ``res5``: 32, 96 and 320 channels at strides 8, 16 and 32), ``frozen_stages``
    and ``norm_eval``.

    Args:
        out_indices (Sequence[int]): Layers whose outputs are returned, 0 to 6 for ``layer1`` ..
            ``layer7``. Defaults to (2, 4, 6).
        **kwargs: The other arguments of :class:`MobileNetV2`.
    """

    def __init__(self, out_indices: Sequence[int] = (2, 4, 6), **kwargs) -> None:
        if not out_indices or not set(out_indices) <= set(range(len(self.arch_settings))):
            raise ValueError(f'out_indices={tuple(out_indices)}: expected layer indices 0 to '
                             f'{len(self.arch_settings) - 1} (layer1 .. layer7), e.g. (2, 4, 6)')
        super().__init__(out_indices=tuple(out_indices), **kwargs)
        for name in self.layers[max(out_indices) + 1:]:
            delattr(self, name)
        self.layers = self.layers[:max(out_indices) + 1]

    @property
    def out_channels(self) -> List[int]:
        """Channels of the returned feature maps."""
        return [make_divisible(self.arch_settings[i][1] * self.widen_factor, 8)
                for i in self.out_indices]
