import torch.nn.functional as F
from torch import Tensor, nn


class EffectiveSELayer(nn.Module):
    """Effective Squeeze-Excitation (eSE) of VoVNetV2.

    `CenterMask <https://arxiv.org/abs/1911.06667>`_ Sec. 2.5: unlike SE, a single fully-connected
    layer (a 1x1 conv with bias) without channel reduction maps the global average of each channel
    to a gate, ``y = x * hsigmoid(fc(GAP(x)))`` with ``hsigmoid(z) = relu6(z + 3) / 6``. With ``fc``
    weight 0 and bias >= 3 the layer is the identity.

    Args:
        channels (int): Number of input (and output) channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Gate every channel of ``x`` (N, C, H, W) by its attention weight; same shape out."""
        gate = F.hardsigmoid(self.fc(x.mean(dim=(2, 3), keepdim=True)))
        return x * gate
