from torch import Tensor, nn

from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS
from ...layers import SpatialAttention


@MODELS.register_module()
class SAGMaskHead(FCNMaskHead):
    """Spatial attention-guided mask head (SAG-Mask) of CenterMask.

    `CenterMask <https://arxiv.org/abs/1911.06667>`_ Sec. 2.4: ``num_convs`` 3x3 conv + ReLU
    layers on the 14x14 RoI features, a :class:`SpatialAttention` module, a 2x2 stride-2 deconv +
    ReLU to 28x28 and a 1x1 class-specific predictor. CenterMask uses 4 convs of 256 channels,
    CenterMask-Lite 2 of 128 (``num_convs=2, in_channels=128, conv_out_channels=128``).
    Targets, loss (BCE on the GT-class channel) and mask pasting are :class:`FCNMaskHead`'s.

    Weights are initialised as in centermask2: Kaiming normal (fan_out, ReLU gain, bias 0) for
    the convs, the attention conv and the deconv; normal(std=0.001, bias 0) for the predictor.

    Args:
        **kwargs: Arguments of :class:`FCNMaskHead`, whose defaults (4 convs x 256 channels on
            14x14 features, deconv x2, 80 classes, mask BCE loss) are CenterMask's.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spatial_attention = SpatialAttention()

    def init_weights(self) -> None:
        """Initialise like centermask2; the predictor gets normal(std=0.001)."""
        super().init_weights()
        nn.init.normal_(self.conv_logits.weight, std=0.001)
        nn.init.constant_(self.conv_logits.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        """Predict mask logits.

        Args:
            x (Tensor): RoI features of shape (N, in_channels, roi_feat_size, roi_feat_size).

        Returns:
            Tensor: Mask logits of shape (N, num_classes, 2 * roi_feat_size, 2 * roi_feat_size)
            (one channel when ``class_agnostic``).
        """
        for conv in self.convs:
            x = conv(x)
        x = self.spatial_attention(x)
        if self.upsample is not None:
            x = self.upsample(x)
            if self.upsample_method == 'deconv':
                x = self.relu(x)
        return self.conv_logits(x)
