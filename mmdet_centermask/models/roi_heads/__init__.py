from .centermask_roi_head import CenterMaskRoIHead
from .mask_heads import CenterMaskIoUHead, SAGMaskHead
from .roi_extractors import AdaptiveRoIExtractor

__all__ = ['CenterMaskRoIHead', 'CenterMaskIoUHead', 'SAGMaskHead', 'AdaptiveRoIExtractor']
