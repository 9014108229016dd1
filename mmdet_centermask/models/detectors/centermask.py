# PLACEHOLDER: replaced by the real implementation.
from mmdet.models.detectors import TwoStageDetector

from mmdet.registry import MODELS


@MODELS.register_module()
class CenterMask(TwoStageDetector):
    """Placeholder."""
