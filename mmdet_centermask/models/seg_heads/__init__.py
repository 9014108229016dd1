from .sem_seg_fpn_head import SemSegFPNHead
from .thresholded_fusion_head import ThresholdedHeuristicFusionHead

__all__ = ['SemSegFPNHead', 'ThresholdedHeuristicFusionHead']
