import torch
from torch import Tensor, nn


class SpatialAttention(nn.Module):
    """Spatial attention module (SAM) of CenterMask's SAG-Mask head.

    `CenterMask <https://arxiv.org/abs/1911.06667>`_ Sec. 2.4: the channel-wise mean and max maps
    of the input are concatenated in the order ``[mean, max]`` (the layout of centermask2's
    ``spatialAtt.conv.weight``: input channel 0 = mean, 1 = max), convolved to one map by a conv
    without bias, passed through a sigmoid and multiplied with every channel of the input. There is
    no normalisation and no ReLU in the module.

    Args:
        kernel_size (int): Kernel size of the attention conv. Defaults to 3.
    """

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def init_weights(self) -> None:
        """Kaiming normal init (fan_out, ReLU gain), detectron2's ``c2_msra_fill`` in
        centermask2."""
        nn.init.kaiming_normal_(self.conv.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x: Tensor) -> Tensor:
        """Reweight the features by the spatial attention map.

        Args:
            x (Tensor): Features of shape (N, C, H, W).

        Returns:
            Tensor: ``x * sigmoid(conv([mean_c(x), max_c(x)]))``, shape (N, C, H, W).
        """
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * self.conv(pooled).sigmoid()
