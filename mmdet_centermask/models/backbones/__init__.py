from .centermask_mobilenet_v2 import CenterMaskMobileNetV2
from .vovnet import VoVNet

__all__ = ['CenterMaskMobileNetV2', 'VoVNet']
