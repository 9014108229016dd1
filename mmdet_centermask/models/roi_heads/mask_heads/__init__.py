from .sag_mask_head import SAGMaskHead

__all__ = ['SAGMaskHead']
