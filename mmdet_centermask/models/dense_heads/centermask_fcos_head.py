# PLACEHOLDER: replaced by the real implementation.
from mmdet.models.dense_heads import FCOSHead

from mmdet.registry import MODELS


@MODELS.register_module()
class CenterMaskFCOSHead(FCOSHead):
    """Placeholder."""
