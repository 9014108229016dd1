"""Data structures of predictions (as ``mmdet.structures``)."""
from .mask_rle import paste_masks_as_rle, region_to_rle

__all__ = ['paste_masks_as_rle', 'region_to_rle']
