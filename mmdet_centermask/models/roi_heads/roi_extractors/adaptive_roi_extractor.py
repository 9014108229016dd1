import math
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig


@MODELS.register_module()
class AdaptiveRoIExtractor(SingleRoIExtractor):
    """RoI extractor with CenterMask's scale-adaptive level assignment.

    `CenterMask <https://arxiv.org/abs/1911.06667>`_ Sec. 2.3, Equation 2 replaces Mask R-CNN's
    ``k = floor(4 + log2(sqrt(wh) / 224))`` (Eq. 1) with

        k = ceil(k_max - log2(A_input / A_RoI)), clamped to [k_min, k_max],

    where ``A_input`` is the area of the resized, unpadded input image of the RoI (its
    ``img_shape``) and ``A_RoI`` the box area in the same coordinates. Level ``k`` is the feature
    map of stride ``2**k``, so ``k_min`` and ``k_max`` come from ``featmap_strides``: P3-P5
    (strides 8, 16, 32) give RoI > 1/2 image -> P5, (1/4, 1/2] -> P4, <= 1/4 -> P3, and Mask
    R-CNN's P2-P5 (strides 4 to 32) extend the same halving down to P2.

    Degenerate boxes: an inverted side (x2 < x1 or y2 < y1) is pooled and measured as length 0
    (mmcv's aligned RoIAlign rejects inverted RoIs), zero areas are clamped to a tiny positive
    value, so such boxes go to ``k_min`` and boxes larger than the image to ``k_max`` without inf
    or NaN. Boxes are not clipped to the image.

    Args:
        roi_layer (:obj:`ConfigDict` or dict): RoI layer of mmcv.ops, built once per stride.
            Defaults to 14x14 RoIAlign with adaptive sampling and ``aligned=True`` (CenterMask).
        out_channels (int): Channels of the input feature maps. Defaults to 256.
        featmap_strides (Sequence[int]): Strides of the input feature maps, consecutive powers
            of 2. Defaults to (8, 16, 32), i.e. P3-P5.
        init_cfg (:obj:`ConfigDict` or dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 roi_layer: ConfigType = dict(
                     type='RoIAlign', output_size=14, sampling_ratio=0, aligned=True),
                 out_channels: int = 256,
                 featmap_strides: Sequence[int] = (8, 16, 32),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            roi_layer=roi_layer,
            out_channels=out_channels,
            featmap_strides=featmap_strides,
            init_cfg=init_cfg)
        levels = [math.log2(stride) for stride in featmap_strides]
        assert all(level == round(levels[0]) + i for i, level in enumerate(levels)), \
            f'featmap_strides must be consecutive powers of 2, got {featmap_strides}'
        self.min_level = round(levels[0])
        self.max_level = round(levels[-1])

    def map_roi_levels(self, rois: Tensor, img_areas: Tensor) -> Tensor:
        """Map RoIs to feature levels by Equation 2.

        Args:
            rois (Tensor): RoIs of shape (n, 5), ``[batch_idx, x1, y1, x2, y2]``.
            img_areas (Tensor): Input image area of each RoI, shape (n, ), or a scalar tensor
                shared by all RoIs.

        Returns:
            Tensor: Level index of each RoI in ``featmap_strides`` (``k - k_min``), shape (n, ).
        """
        rois = rois.float()
        widths = (rois[:, 3] - rois[:, 1]).clamp(min=0)
        heights = (rois[:, 4] - rois[:, 2]).clamp(min=0)
        roi_areas = (widths * heights).clamp(min=torch.finfo(torch.float32).eps)
        levels = torch.ceil(self.max_level - torch.log2(img_areas / roi_areas))
        return (levels.clamp(self.min_level, self.max_level) - self.min_level).long()

    def roi_img_areas(self, feats: Tuple[Tensor], rois: Tensor,
                      img_shapes: Optional[Sequence[Sequence[int]]]) -> Tensor:
        """Input image area ``A_input`` of each RoI.

        Args:
            feats (tuple[Tensor]): Multi-level features, finest first.
            rois (Tensor): RoIs of shape (n, 5); column 0 is the image index in the batch.
            img_shapes (Sequence[Sequence[int]], optional): ``(h, w)`` of each resized,
                unpadded image (its ``img_shape``). When None, the padded batch input area
                ``feats[0] size * featmap_strides[0]`` is used for every RoI.

        Returns:
            Tensor: float32 areas of shape (n, ), or a scalar tensor for the padded fallback.
        """
        if img_shapes is None:
            height, width = feats[0].shape[-2:]
            stride = self.featmap_strides[0]
            return rois.new_tensor(height * stride * width * stride, dtype=torch.float32)
        img_areas = rois.new_tensor([shape[0] * shape[1] for shape in img_shapes],
                                    dtype=torch.float32)
        return img_areas[rois[:, 0].long()]

    def forward(self,
                feats: Tuple[Tensor],
                rois: Tensor,
                roi_scale_factor: Optional[float] = None,
                img_shapes: Optional[Sequence[Sequence[int]]] = None) -> Tensor:
        """Pool each RoI from the level chosen by Equation 2.

        Levels are assigned on the given RoIs, before ``roi_scale_factor`` enlarges them (as in
        :class:`SingleRoIExtractor`).

        Args:
            feats (tuple[Tensor]): Multi-level features, one per ``featmap_strides`` entry.
            rois (Tensor): RoIs of shape (n, 5), ``[batch_idx, x1, y1, x2, y2]`` as made by
                :func:`mmdet.structures.bbox.bbox2roi`.
            roi_scale_factor (float, optional): Scale factor applied to the RoIs around their
                centres before pooling. Defaults to None.
            img_shapes (Sequence[Sequence[int]], optional): ``(h, w)`` of each image's resized,
                unpadded input (``img_shape`` in the image metas), indexed by ``rois[:, 0]``.
                Stock mmdet RoI heads call the extractor with ``(feats, rois)`` only; then the
                padded batch input area, ``feats[0].shape[-2:] * featmap_strides[0]``, stands in
                for every image, which equals Eq. 2 only for images that fill the padded batch.
                Defaults to None.

        Returns:
            Tensor: RoI features of shape (n, out_channels, *output_size).
        """
        assert len(feats) == self.num_inputs, \
            f'expected {self.num_inputs} feature levels, got {len(feats)}'
        target_lvls = self.map_roi_levels(rois, self.roi_img_areas(feats, rois, img_shapes))
        # Pool in float32 also under mixed precision: mmcv's CPU RoIAlign has no bfloat16
        # kernel, and half-precision RoI coordinates are off by pixels in large images.
        rois = torch.cat([rois[:, :3], torch.max(rois[:, 3:], rois[:, 1:3])], dim=1).float()
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        roi_feats = rois.new_zeros(rois.size(0), self.out_channels,
                                   *self.roi_layers[0].output_size)
        for i, (feat, roi_layer) in enumerate(zip(feats, self.roi_layers)):
            inds = (target_lvls == i).nonzero(as_tuple=False).squeeze(1)
            if inds.numel() > 0:
                roi_feats[inds] = roi_layer(feat.float(), rois[inds])
            else:
                # Keep unused levels in the graph so that every GPU has the same graph under
                # distributed training (as in SingleRoIExtractor).
                roi_feats += sum(
                    param.view(-1)[0] for param in self.parameters()) * 0. + feat.sum() * 0.
        return roi_feats.to(feats[0].dtype)
