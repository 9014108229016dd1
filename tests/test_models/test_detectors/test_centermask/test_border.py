"""A converted centermask2 checkpoint on a real photograph gives what centermask2 computes, border
handling included: its FCOS post-processing (fcos_outputs.py) and detectron2's
detector_postprocess, both written out here from the raw network outputs."""

import torch
import torch.nn.functional as F
from mmdet_centermask.testing.centermask2_layout import random_values, to_centermask2
from mmdet_centermask.testing import load_config
from mmcv.ops import nms
from mmengine.dataset import pseudo_collate
from mmengine.structures import InstanceData

from mmdet.registry import MODELS, TRANSFORMS
from mmdet_centermask.model_converters import convert_centermask2

LITE_DW_CONFIG = 'centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'
STRIDES = (8, 16, 32, 64, 128)


def centermask2_fcos_detections(cls_scores, bbox_preds, centernesses):
    """FCOSOutputs.predict_proposals at test time (0.05, top 1000 per level by cls * ctr,
    unclipped boxes, sqrt score, class-aware NMS 0.6, kthvalue top 50), for one image."""
    boxes, scores, labels = [], [], []
    for cls, reg, ctr, stride in zip(cls_scores, bbox_preds, centernesses, STRIDES):
        _, num_classes, h, w = cls.shape
        ys, xs = torch.meshgrid(torch.arange(h) * stride, torch.arange(w) * stride, indexing='ij')
        locations = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float() + stride // 2
        box_cls = cls[0].permute(1, 2, 0).reshape(-1, num_classes).sigmoid()
        box_reg = reg[0].permute(1, 2, 0).reshape(-1, 4)
        candidates = box_cls > 0.05  # on the class probability, before the centerness
        box_cls = box_cls * ctr[0].permute(1, 2, 0).reshape(-1).sigmoid()[:, None]
        per_cls = box_cls[candidates]
        loc_inds, cls_inds = candidates.nonzero(as_tuple=True)
        if len(per_cls) > 1000:
            per_cls, top = per_cls.topk(1000, sorted=False)
            loc_inds, cls_inds = loc_inds[top], cls_inds[top]
        loc, reg_i = locations[loc_inds], box_reg[loc_inds]
        boxes.append(torch.stack([loc[:, 0] - reg_i[:, 0], loc[:, 1] - reg_i[:, 1],
                                  loc[:, 0] + reg_i[:, 2], loc[:, 1] + reg_i[:, 3]], 1))
        scores.append(per_cls.sqrt())
        labels.append(cls_inds)
    boxes, scores, labels = torch.cat(boxes), torch.cat(scores), torch.cat(labels)
    keep = []
    for label in labels.unique():  # one class at a time
        inds = (labels == label).nonzero()[:, 0]
        keep.append(inds[nms(boxes[inds], scores[inds], 0.6)[1]])
    keep = torch.cat(keep)
    keep = keep[scores[keep].argsort(descending=True)]
    if len(keep) > 50:
        threshold = torch.kthvalue(scores[keep], len(keep) - 50 + 1).values
        keep = keep[scores[keep] >= threshold]
    return boxes[keep], scores[keep], labels[keep]


def detectron2_paste(probs: torch.Tensor, box: torch.Tensor, height: int, width: int):
    """detectron2's paste_masks_in_image for one mask (grid_sample over the whole image)."""
    x0, y0, x1, y1 = box.tolist()
    img_y = (torch.arange(height, dtype=torch.float32) + 0.5 - y0) / (y1 - y0) * 2 - 1
    img_x = (torch.arange(width, dtype=torch.float32) + 0.5 - x0) / (x1 - x0) * 2 - 1
    grid = torch.stack([img_x[None, :].expand(height, width),
                        img_y[:, None].expand(height, width)], dim=2)[None]
    return F.grid_sample(probs[None, None], grid, align_corners=False)[0, 0] >= 0.5


def test_converted_lite_reproduces_centermask2_on_detections_crossing_the_border(coco45):
    cfg = load_config(LITE_DW_CONFIG)
    model = MODELS.build(cfg.model)
    source = to_centermask2(random_values(model.state_dict(), seed=3))
    for key in source:  # boxes large enough to reach the border from random weights
        if '.scales.' in key:
            source[key] = torch.full_like(source[key], 8.0)
    model.load_state_dict(convert_centermask2(source).checked_state_dict())
    model.eval()
    pipeline = [TRANSFORMS.build(t) for t in (
        dict(type='LoadImageFromFile'), dict(type='Resize', scale=(1000, 600), keep_ratio=True),
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')))]
    item = dict(img_path=str(coco45 / 'images' / '000000000042.jpg'), img_id=42)
    for transform in pipeline:
        item = transform(item)
    data = model.data_preprocessor(pseudo_collate([item]), False)
    inputs, samples = data['inputs'], data['data_samples']
    with torch.no_grad():
        ours = model.predict(inputs, samples)[0].pred_instances
        feats = model.extract_feat(inputs)
        boxes, scores, labels = centermask2_fcos_detections(*model.bbox_head(feats))
        mask_logits, mask_ious = model.roi_head.forward(
            feats, [InstanceData(bboxes=boxes, labels=labels)], samples)
    img_h, img_w = samples[0].img_shape
    ori_h, ori_w = samples[0].ori_shape
    crossing = (boxes[:, :2] < 0).any(1) | (boxes[:, 2] > img_w) | (boxes[:, 3] > img_h)
    assert crossing.sum() >= 3, 'the test needs detections that cross the image border'
    # detector_postprocess: scale to the original size, clip, drop empty boxes, paste
    scale = torch.tensor([ori_w / img_w, ori_h / img_h] * 2)
    out_boxes = boxes * scale
    out_boxes[:, 0::2] = out_boxes[:, 0::2].clamp(0, ori_w)
    out_boxes[:, 1::2] = out_boxes[:, 1::2].clamp(0, ori_h)
    nonempty = (out_boxes[:, 2] > out_boxes[:, 0]) & (out_boxes[:, 3] > out_boxes[:, 1])
    probs = mask_logits[torch.arange(len(labels)), labels].sigmoid()
    masks = torch.stack([detectron2_paste(p, b, ori_h, ori_w)
                         for p, b in zip(probs[nonempty], out_boxes[nonempty])])

    assert len(ours) == int(nonempty.sum())
    torch.testing.assert_close(ours.bboxes, out_boxes[nonempty], rtol=0, atol=1e-3)
    torch.testing.assert_close(ours.scores, scores[nonempty], rtol=0, atol=1e-6)
    assert torch.equal(ours.labels, labels[nonempty])
    torch.testing.assert_close(ours.mask_scores, (scores * mask_ious)[nonempty], rtol=0,
                               atol=1e-6)
    differing = (ours.masks != masks).sum().item()
    assert differing <= 1e-5 * masks.numel(), f'{differing} mask pixels differ'
