from typing import List

import numpy as np
import torch
from mmengine.config import ConfigDict
from torch import Tensor, nn

from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from mmdet.structures.mask import PolygonMasks
from mmdet.utils import InstanceList
from ...layers import SpatialAttention
from .polygon_targets import rasterize_polygons_in_box


@MODELS.register_module()
class SAGMaskHead(FCNMaskHead):
    """Spatial attention-guided mask head (SAG-Mask) of CenterMask.

    `CenterMask <https://arxiv.org/abs/1911.06667>`_ Sec. 2.4: ``num_convs`` 3x3 conv + ReLU
    layers on the 14x14 RoI features, a :class:`SpatialAttention` module, a 2x2 stride-2 deconv +
    ReLU to 28x28 and a 1x1 class-specific predictor. CenterMask uses 4 convs of 256 channels,
    CenterMask-Lite 2 of 128 (``num_convs=2, in_channels=128, conv_out_channels=128``).
    Loss (BCE on the GT-class channel) and mask pasting are :class:`FCNMaskHead`'s; the targets
    are centermask2's (:meth:`get_targets`).

    Weights are initialised as in centermask2: Kaiming normal (fan_out, ReLU gain, bias 0) for
    the convs, the attention conv and the deconv; normal(std=0.001, bias 0) for the predictor.

    Args:
        **kwargs: Arguments of :class:`FCNMaskHead`, whose defaults (4 convs x 256 channels on
            14x14 features, deconv x2, 80 classes, mask BCE loss) are CenterMask's.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spatial_attention = SpatialAttention()

    def init_weights(self) -> None:
        """Initialise like centermask2; the predictor gets normal(std=0.001)."""
        super().init_weights()
        nn.init.normal_(self.conv_logits.weight, std=0.001)
        nn.init.constant_(self.conv_logits.bias, 0)

    def get_targets(self, sampling_results: List[SamplingResult],
                    batch_gt_instances: InstanceList, rcnn_train_cfg: ConfigDict) -> Tensor:
        """28x28 targets of the positive RoIs, on the RoIs as they are pooled.

        mmdet's ``mask_target`` clips the RoIs to the image first, so a RoI crossing the border
        (FCOS boxes are unclipped, as in centermask2) would be pooled on one box and supervised
        on another. Here the target is cut from the unclipped RoI, as centermask2 does:
        polygons by detectron2's ``rasterize_polygons_within_box``, bitmaps by RoIAlign
        (``aligned=True``, binarised at 0.5: ``BitmapMasks.crop_and_resize``, detectron2's
        ``BitMasks.crop_and_resize``).

        Returns:
            Tensor: float targets (num_pos, mask_size, mask_size) of all images.
        """
        mask_size = rcnn_train_cfg.mask_size
        targets = []
        for res, gt_instances in zip(sampling_results, batch_gt_instances):
            boxes = res.pos_priors.detach()
            if len(boxes) == 0:
                continue
            gt_inds = res.pos_assigned_gt_inds
            gt_masks = gt_instances.masks
            if isinstance(gt_masks, PolygonMasks):
                masks = np.stack([
                    rasterize_polygons_in_box(gt_masks.masks[i], box, mask_size)
                    for i, box in zip(gt_inds.tolist(), boxes.cpu().float().numpy())
                ])
            else:
                masks = gt_masks.crop_and_resize(
                    boxes.float(), (mask_size, mask_size), inds=gt_inds,
                    device=boxes.device).to_ndarray()
            targets.append(torch.from_numpy(masks).to(boxes.device, torch.float32))
        if not targets:
            return sampling_results[0].pos_priors.new_zeros((0, mask_size, mask_size))
        return torch.cat(targets)

    def forward(self, x: Tensor) -> Tensor:
        """Predict mask logits.

        Args:
            x (Tensor): RoI features of shape (N, in_channels, roi_feat_size, roi_feat_size).

        Returns:
            Tensor: Mask logits of shape (N, num_classes, 2 * roi_feat_size, 2 * roi_feat_size)
            (one channel when ``class_agnostic``).
        """
        for conv in self.convs:
            x = conv(x)
        x = self.spatial_attention(x)
        if self.upsample is not None:
            x = self.upsample(x)
            if self.upsample_method == 'deconv':
                x = self.relu(x)
        return self.conv_logits(x)
