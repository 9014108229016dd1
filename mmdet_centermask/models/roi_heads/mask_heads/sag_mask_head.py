# PLACEHOLDER: replaced by the real implementation.
from mmdet.models.roi_heads.mask_heads import FCNMaskHead

from mmdet.registry import MODELS


@MODELS.register_module()
class SAGMaskHead(FCNMaskHead):
    """Placeholder."""
