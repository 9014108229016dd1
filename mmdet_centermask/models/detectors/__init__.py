from .centermask import CenterMask
from .panoptic_centermask import PanopticCenterMask

__all__ = ['CenterMask', 'PanopticCenterMask']
