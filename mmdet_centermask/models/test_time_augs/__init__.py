from .centermask_tta_model import CenterMaskTTAModel

__all__ = ['CenterMaskTTAModel']
