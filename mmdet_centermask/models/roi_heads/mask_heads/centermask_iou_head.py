from typing import List

import numpy as np
import torch
from mmengine.config import ConfigDict
from torch import Tensor

from mmdet.models.roi_heads.mask_heads import MaskIoUHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from mmdet.structures.mask import BaseInstanceMasks, PolygonMasks
from mmdet.utils import InstanceList, OptMultiConfig
from .polygon_targets import polygon_area_in_box


@MODELS.register_module()
class CenterMaskIoUHead(MaskIoUHead):
    """The MaskIoU head of CenterMask (Sec. 2.6), with centermask2's targets and initialisation.

    The network is mmdet's :class:`MaskIoUHead` (it takes mask logits and applies the sigmoid
    itself; centermask2 feeds probabilities, the same function). What differs:

    * the full-mask correction of the target: the share of the GT mask inside the RoI is, for
      polygons, the polygon rasterised on the float RoI over its shoelace area
      (:func:`polygon_area_in_box`, centermask2's ``mask_rcnn_loss``); mmdet crops the polygon to
      the RoI cast to integers. Bitmaps keep mmdet's integer crop, as centermask2 has no bitmap
      path.
    * the ratio is clamped to [1e-10, 1] and the union to at least 1 pixel, so a rasterised
      area above the polygon's (small objects) or an empty union gives centermask2's target.
    * the fully connected layers start from Kaiming normal (fan_out), as centermask2's; mmdet
      uses Caffe2 Xavier.

    Args:
        init_cfg (dict or list[dict], optional): Initialization config; centermask2's by
            default.
        **kwargs: Arguments of :class:`MaskIoUHead`.
    """

    def __init__(self,
                 init_cfg: OptMultiConfig = [
                     dict(type='Kaiming', override=dict(name='convs')),
                     dict(type='Kaiming', override=dict(name='fcs')),
                     dict(type='Normal', std=0.01, override=dict(name='fc_mask_iou'))
                 ],
                 **kwargs) -> None:
        super().__init__(init_cfg=init_cfg, **kwargs)

    def get_targets(self, sampling_results: List[SamplingResult],
                    batch_gt_instances: InstanceList, mask_preds: Tensor, mask_targets: Tensor,
                    rcnn_train_cfg: ConfigDict) -> Tensor:
        """IoU of each binarised predicted mask with its whole GT mask (centermask2).

        Args:
            sampling_results (list[:obj:`SamplingResult`]): Positives of each image.
            batch_gt_instances (list[:obj:`InstanceData`]): GT with ``masks``.
            mask_preds (Tensor): Mask logits of the GT class, (num_pos, 28, 28).
            mask_targets (Tensor): Mask targets, (num_pos, 28, 28).
            rcnn_train_cfg (ConfigDict): ``mask_thr_binary`` on the logits.

        Returns:
            Tensor: The targets, (num_pos, ).
        """
        area_ratios = torch.cat([
            self._get_area_ratio(res.pos_priors, res.pos_assigned_gt_inds, gt.masks)
            for res, gt in zip(sampling_results, batch_gt_instances)
        ]).clamp(min=1e-10, max=1.0)
        binary_preds = (mask_preds > rcnn_train_cfg.mask_thr_binary).float()
        overlap_areas = (binary_preds * mask_targets).sum((-1, -2))
        gt_full_areas = mask_targets.sum((-1, -2)) / area_ratios
        union_areas = binary_preds.sum((-1, -2)) + gt_full_areas - overlap_areas
        return overlap_areas / union_areas.clamp(min=1.0)

    def _get_area_ratio(self, pos_proposals: Tensor, pos_assigned_gt_inds: Tensor,
                        gt_masks: BaseInstanceMasks) -> Tensor:
        """Share of each positive's GT mask inside its RoI (unclamped).

        Polygons: :func:`polygon_area_in_box` over the shoelace area; bitmaps: mmdet's.
        """
        if not isinstance(gt_masks, PolygonMasks) or len(pos_proposals) == 0:
            return super()._get_area_ratio(pos_proposals, pos_assigned_gt_inds, gt_masks)
        full_areas = gt_masks.areas
        boxes = pos_proposals.detach().cpu().float().numpy()
        ratios = [
            polygon_area_in_box(gt_masks.masks[i], box) / full_areas[i]
            if full_areas[i] > 0 else 0.0
            for i, box in zip(pos_assigned_gt_inds.tolist(), boxes)
        ]
        return torch.from_numpy(np.array(ratios, dtype=np.float32)).to(pos_proposals.device)
