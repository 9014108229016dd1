from .centermask_roi_head import CenterMaskRoIHead
from .mask_heads import SAGMaskHead
from .roi_extractors import AdaptiveRoIExtractor

__all__ = ['CenterMaskRoIHead', 'SAGMaskHead', 'AdaptiveRoIExtractor']
