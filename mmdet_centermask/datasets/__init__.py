from .checked_coco_panoptic import CheckedCocoPanopticDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['CheckedCocoPanopticDataset']
