from .checked_coco import CheckedCocoDataset
from .checked_coco_panoptic import CheckedCocoPanopticDataset
from .coco_panoptic_separated import CocoPanopticSeparatedDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['CheckedCocoDataset', 'CheckedCocoPanopticDataset', 'CocoPanopticSeparatedDataset']
