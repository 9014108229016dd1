from .ese import EffectiveSELayer
from .osa_block import OSABlock, conv_norm_relu, dw_conv_norm_relu
from .spatial_attention import SpatialAttention

__all__ = [
    'EffectiveSELayer',
    'OSABlock',
    'conv_norm_relu',
    'dw_conv_norm_relu',
    'SpatialAttention',
]
