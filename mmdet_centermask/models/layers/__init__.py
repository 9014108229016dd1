from .spatial_attention import SpatialAttention

__all__ = ['SpatialAttention']
