from typing import Tuple

from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.seg_heads import HeuristicFusionHead
from mmdet.registry import MODELS


@MODELS.register_module()
class ThresholdedHeuristicFusionHead(HeuristicFusionHead):
    """mmdet's :class:`HeuristicFusionHead` that lays only instances scoring at least
    ``test_cfg.instance_score_thr``, as detectron2's ``combine_semantic_and_instance_outputs``
    (Panoptic FPN's fusion, which centermask2 uses).

    mmdet's head lays every instance it is given; its Panoptic FPN relies on the box head's
    ``score_thr`` of 0.6 for the cut. CenterMask keeps its top-50 detections above 0.05 for the
    instance results (the box and mask AP are measured on those), so the fusion cuts them itself.
    The rest is detectron2's rule as mmdet implements it: instances by descending score, one
    skipped when more than ``mask_overlap`` of its mask is already taken, only its free pixels
    laid otherwise; stuff from the semantic argmax on the pixels left, a stuff class covering
    fewer than ``stuff_area_limit`` of them is void, and so are left pixels of the things channel.

    ``test_cfg``: ``instance_score_thr`` (detectron2 ``INSTANCES_CONFIDENCE_THRESH``, 0.5),
    ``mask_overlap`` (``OVERLAP_THRESH``, 0.5), ``stuff_area_limit`` (``STUFF_AREA_LIMIT``,
    4096 pixels of the output image).
    """

    def _lay_masks(self, mask_results: InstanceData,
                   overlap_thr: float = 0.5) -> Tuple[Tensor, Tensor]:
        """Lay the instances scoring at least ``test_cfg.instance_score_thr`` (box ``scores``,
        as detectron2's ``instances.scores``; not the mask scores).

        Args:
            mask_results (:obj:`InstanceData`): ``bboxes``, ``labels``, ``scores`` and
                ``masks`` of one image.
            overlap_thr (float): Largest share of a mask that may already be taken.

        Returns:
            tuple[Tensor, Tensor]: The instance id map (H, W), 0 where no instance lies, and
            the labels of the laid instances (id ``i`` has label ``i - 1``).
        """
        keep = mask_results.scores >= self.test_cfg.instance_score_thr
        return super()._lay_masks(mask_results[keep], overlap_thr)
