from typing import Tuple

import torch
from torch import Tensor, nn

from ..models.detectors import CenterMask

# ONNX opset of the exported graphs: RoiAlign with coordinate_transformation_mode (opset 16)
OPSET = 18


def onnx_roi_align(feat: Tensor, boxes: Tensor, output_size: int, spatial_scale: float) -> Tensor:
    """ONNX ``RoiAlign`` (``half_pixel`` = mmcv's ``aligned=True``, adaptive sampling = mmcv's
    ``sampling_ratio=0``, average pooling) of ``(n, 4)`` boxes on a batch of one image."""
    return torch.onnx.ops.symbolic(
        'RoiAlign', (feat, boxes, boxes.new_zeros(boxes.shape[0], dtype=torch.int64)),
        dict(coordinate_transformation_mode='half_pixel', mode='avg', output_height=output_size,
             output_width=output_size, sampling_ratio=0, spatial_scale=spatial_scale),
        dtype=feat.dtype, shape=(boxes.shape[0], feat.shape[1], output_size, output_size),
        version=16)


def onnx_nms(boxes: Tensor, scores: Tensor, max_boxes: int, iou_threshold: float) -> Tensor:
    """Indices (descending score) of the boxes ONNX ``NonMaxSuppression`` keeps among those
    with a positive score, at most ``max_boxes``, padded with -1 to ``max_boxes``."""
    # how many boxes NMS keeps is known at run time only: an unbacked size in the graph (a fixed
    # one would make onnxruntime plan buffers of that size)
    num_kept = torch.clamp((scores > 0).sum(), max=max_boxes).item()
    torch._check(num_kept >= 0)
    torch._check(num_kept <= max_boxes)
    selected = torch.onnx.ops.symbolic(
        'NonMaxSuppression',
        (boxes[None], scores[None, None], torch.tensor([max_boxes]),
         torch.tensor([iou_threshold], dtype=torch.float32), torch.tensor([0.0])),
        dict(center_point_box=0), dtype=torch.int64, shape=(num_kept, 3), version=None)
    return torch.cat([selected[:, 2], selected.new_full((max_boxes, ), -1)])[:max_boxes]


class ONNXCenterMask(nn.Module):
    """A :class:`CenterMask` as one graph of standard ONNX operators, for one image.

    The same computation as :meth:`CenterMask.predict` up to the final clip and paste: FCOS with
    centermask2's candidate rule (class probability above ``score_thr``, the ``nms_pre`` best by
    probability x centerness per level), ``sqrt`` scores, the class-aware NMS (mmcv's
    ``batched_nms``: class offsets, one ``NonMaxSuppression``), the ``max_per_img`` best, then
    Equation 2 on the unclipped boxes, ``RoiAlign`` on P3-P5, the SAG-Mask and MaskIoU heads.
    The shapes are fixed by ``max_per_img`` (K): detections beyond those found have score 0.

    Inputs: ``inputs`` (1, 3, H, W), normalised and padded as the model's data preprocessor does
    it; ``img_shape`` (2, ) int64, the unpadded ``(h, w)`` (Equation 2's input area).
    Outputs: ``boxes`` (K, 4) in input pixels, ``scores`` (K, ), ``labels`` (K, ),
    ``mask_logits`` (K, 28, 28) of each detection's label, ``mask_scores`` (K, ).
    """

    output_names = ('boxes', 'scores', 'labels', 'mask_logits', 'mask_scores')

    def __init__(self, model: CenterMask) -> None:
        super().__init__()
        self.model = model
        self.cfg = model.test_cfg['bbox']

    def fcos_detections(self, feats: Tuple[Tensor], img_shape: Tensor) -> Tuple[Tensor, ...]:
        """Boxes, scores, labels of the ``max_per_img`` best FCOS detections (score 0: none)."""
        head, cfg = self.model.bbox_head, self.cfg
        cls_scores, bbox_preds, centernesses = head(feats)
        priors = head.prior_generator.grid_priors(
            [c.shape[-2:] for c in cls_scores], dtype=cls_scores[0].dtype,
            device=cls_scores[0].device)
        num_classes = head.cls_out_channels
        all_boxes, all_scores, all_labels = [], [], []
        for cls_score, bbox_pred, centerness, points in zip(cls_scores, bbox_preds,
                                                            centernesses, priors):
            cls_prob = cls_score[0].permute(1, 2, 0).reshape(-1, num_classes).sigmoid()
            ctr = centerness[0].permute(1, 2, 0).reshape(-1, 1).sigmoid()
            distances = bbox_pred[0].permute(1, 2, 0).reshape(-1, 4)
            scores = torch.where(cls_prob > cfg.score_thr, cls_prob * ctr, -1.0).reshape(-1)
            # padding makes the top-k size constant, also on levels smaller than nms_pre
            scores = torch.cat([scores, scores.new_full((cfg.nms_pre, ), -1.0)])
            top_scores, top_inds = scores.topk(cfg.nms_pre)
            point_inds = (top_inds // num_classes).clamp(max=points.shape[0] - 1)
            boxes = head.bbox_coder.decode(
                points[point_inds], distances[point_inds],
                max_shape=img_shape if head.bbox_coder.clip_border else None)
            all_boxes.append(boxes)
            all_scores.append(top_scores)
            all_labels.append(top_inds % num_classes)
        boxes, scores, labels = torch.cat(all_boxes), torch.cat(all_scores), torch.cat(all_labels)
        valid = scores > 0
        if cfg.get('min_bbox_size', -1) >= 0:
            sizes = boxes[:, 2:] - boxes[:, :2]
            valid &= (sizes > cfg.min_bbox_size).all(1)
        scores = scores.clamp(min=0).sqrt() if head.sqrt_score else scores.clamp(min=0)
        scores = torch.where(valid, scores, -1.0)
        # mmcv's batched_nms: boxes of each class shifted apart by (largest coordinate + 1)
        largest = torch.where(valid[:, None], boxes, torch.zeros_like(boxes)).max()
        offsets = labels.to(boxes.dtype) * (largest + 1)
        keep = onnx_nms(boxes + offsets[:, None], scores, cfg.max_per_img,
                        cfg.nms.iou_threshold)
        found = keep >= 0
        keep = keep.clamp(min=0)
        return (boxes[keep], torch.where(found, scores[keep], 0.0), labels[keep])

    def forward(self, inputs: Tensor, img_shape: Tensor) -> Tuple[Tensor, ...]:
        """See the class docstring."""
        feats = self.model.instance_feats(self.model.extract_feat(inputs))
        boxes, scores, labels = self.fcos_detections(feats, img_shape)
        roi_head = self.model.roi_head
        extractor = roi_head.mask_roi_extractor
        img_area = (img_shape[0] * img_shape[1]).to(torch.float32)
        levels = extractor.map_roi_levels(
            torch.cat([boxes.new_zeros(boxes.shape[0], 1), boxes], 1), img_area)
        pool_boxes = torch.cat([boxes[:, :2], torch.max(boxes[:, 2:], boxes[:, :2])], 1)
        output_size = extractor.roi_layers[0].output_size[0]
        roi_feats = sum(
            torch.where((levels == i)[:, None, None, None],
                        onnx_roi_align(feats[i], pool_boxes, output_size, 1.0 / stride), 0.0)
            for i, stride in enumerate(extractor.featmap_strides))
        index = torch.arange(boxes.shape[0])
        mask_logits = roi_head.mask_head(roi_feats)[index, labels]
        mask_ious = roi_head.mask_iou_head(roi_feats, mask_logits)[index, labels]
        return boxes, scores, labels, mask_logits, scores * mask_ious
