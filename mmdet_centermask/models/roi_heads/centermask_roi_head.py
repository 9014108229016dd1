# PLACEHOLDER: replaced by the real implementation.
from mmdet.models.roi_heads import MaskScoringRoIHead

from mmdet.registry import MODELS


@MODELS.register_module()
class CenterMaskRoIHead(MaskScoringRoIHead):
    """Placeholder."""
