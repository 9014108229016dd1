from .centermask_iou_head import CenterMaskIoUHead
from .sag_mask_head import SAGMaskHead

__all__ = ['CenterMaskIoUHead', 'SAGMaskHead']
