# PLACEHOLDER: replaced by the real implementation.
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor

from mmdet.registry import MODELS


@MODELS.register_module()
class AdaptiveRoIExtractor(SingleRoIExtractor):
    """Placeholder."""
