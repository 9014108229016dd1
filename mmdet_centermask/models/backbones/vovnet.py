# PLACEHOLDER: replaced by the real implementation.
from mmengine.model import BaseModule

from mmdet.registry import MODELS


@MODELS.register_module()
class VoVNet(BaseModule):
    """Placeholder."""
