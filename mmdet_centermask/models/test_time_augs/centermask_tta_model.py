from typing import Dict, List, Tuple

import torch
from mmcv.ops import batched_nms
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.test_time_augs import DetTTAModel
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, SampleList
from mmdet.structures.bbox import bbox2roi, bbox_flip, scale_boxes
from mmdet.utils import ConfigType

from ..detectors import PanopticCenterMask
from ..roi_heads.centermask_roi_head import clip_to_image

# The axes of a (h, w) map that each flip direction reverses.
FLIP_DIMS = {'horizontal': (-1, ), 'vertical': (-2, ), 'diagonal': (-2, -1)}
MASK_SCORES = ('box', 'mask_iou')


def boxes_to_original(bboxes: Tensor, meta: dict) -> Tensor:
    """Boxes of an augmented view in original-image pixels: the flip undone, then the resize."""
    if meta.get('flip', False):
        bboxes = bbox_flip(bboxes, meta['img_shape'], meta['flip_direction'])
    return scale_boxes(bboxes, [1 / s for s in meta['scale_factor']])


def boxes_to_view(bboxes: Tensor, meta: dict) -> Tensor:
    """Original-image boxes in the pixels of an augmented view: resized, then flipped."""
    bboxes = scale_boxes(bboxes, meta['scale_factor'])
    if meta.get('flip', False):
        bboxes = bbox_flip(bboxes, meta['img_shape'], meta['flip_direction'])
    return bboxes


@MODELS.register_module()
class CenterMaskTTAModel(DetTTAModel):
    """Test-time augmentation of :class:`CenterMask` with masks, as centermask2 runs it
    (detectron2's ``GeneralizedRCNNWithTTA``, ``TEST.AUG``).

    mmdet's :class:`DetTTAModel` merges final predictions, boxes only. Here, per image:

    1. every augmented view gives its FCOS detections (no mask branch), which are mapped back to
       the original image (flip undone, then the resize) and clipped to it;
    2. all views' detections are merged by per-class NMS (``tta_cfg.nms``; detectron2's
       ``ROI_HEADS.NMS_THRESH_TEST`` = 0.5) and the ``tta_cfg.max_per_img`` best are kept
       (``TEST.DETECTIONS_PER_IMAGE`` = 100);
    3. the mask branch runs on the merged boxes in every view (Equation 2 on that view's
       features); each detection's 28 x 28 mask probabilities are flipped back and averaged
       over the views, then pasted into the original image like a plain prediction's.

    ``tta_cfg.mask_scores`` sets the scores that rank the masks: ``'box'`` (default, centermask2:
    its TTA keeps no MaskIoU ``mask_scores``, so the merged box scores rank the masks too) or
    ``'mask_iou'`` (the box score times the MaskIoU prediction averaged over the views, as a
    plain prediction scores its masks on one view).

    Args:
        tta_cfg (dict): ``nms``, ``max_per_img`` and ``mask_scores``.
        **kwargs: ``module`` (the CenterMask config or model) and ``data_preprocessor``.

    Raises:
        ValueError: The module is a Panoptic-CenterMask (its semantic predictions have no
            test-time augmentation, in centermask2 either), or ``tta_cfg`` is incomplete.
    """

    def __init__(self, tta_cfg: ConfigType, **kwargs) -> None:
        super().__init__(tta_cfg=tta_cfg, **kwargs)
        if isinstance(self.module, PanopticCenterMask):
            raise ValueError('CenterMaskTTAModel merges instances only: Panoptic-CenterMask\'s '
                             'semantic predictions have no test-time augmentation (centermask2 '
                             'has none either); test it without --tta')
        missing = [key for key in ('nms', 'max_per_img') if key not in tta_cfg]
        if missing:
            raise ValueError(f'CenterMaskTTAModel needs tta_cfg.{" and tta_cfg.".join(missing)}, '
                             f'got tta_cfg={dict(tta_cfg)}')
        self.mask_scores = tta_cfg.get('mask_scores', 'box')
        if self.mask_scores not in MASK_SCORES:
            raise ValueError(f'tta_cfg.mask_scores={self.mask_scores!r}: expected one of '
                             f'{MASK_SCORES}')

    def test_step(self, data: Dict[str, list]) -> SampleList:
        """Predict the images of ``data`` (one entry per augmented view, as
        :class:`TestTimeAug` packs them) with merged boxes and averaged masks."""
        detector = self.module
        num_views = len(data['inputs'])
        views = []
        for index in range(num_views):
            view = detector.data_preprocessor({key: value[index] for key, value in data.items()},
                                              False)
            feats = detector.instance_feats(detector.extract_feat(view['inputs']))
            detections = detector.bbox_head.predict(feats, view['data_samples'], rescale=False)
            views.append((feats, view['data_samples'], detections))

        merged_samples = []
        for image in range(len(views[0][1])):
            metas = [samples[image].metainfo for _, samples, _ in views]
            merged = self.merge_detections([dets[image] for _, _, dets in views], metas)
            image_feats = [tuple(level[image:image + 1] for level in feats)
                           for feats, _, _ in views]
            sample: DetDataSample = views[0][1][image]
            sample.pred_instances = self.segment(merged, image_feats, metas)
            merged_samples.append(sample)
        return merged_samples

    def merge_detections(self, detections: List[InstanceData],
                         metas: List[dict]) -> InstanceData:
        """The views' FCOS detections in original-image pixels, clipped to the image, merged by
        per-class NMS; the ``tta_cfg.max_per_img`` best-scoring ones."""
        bboxes = torch.cat([boxes_to_original(dets.bboxes, meta)
                            for dets, meta in zip(detections, metas)])
        bboxes = clip_to_image(bboxes, metas[0]['ori_shape'])
        scores = torch.cat([dets.scores for dets in detections])
        labels = torch.cat([dets.labels for dets in detections])
        if bboxes.numel() == 0:
            return InstanceData(bboxes=bboxes, scores=scores, labels=labels)
        _, keep = batched_nms(bboxes, scores, labels, self.tta_cfg.nms)
        keep = keep[:self.tta_cfg.max_per_img]
        return InstanceData(bboxes=bboxes[keep], scores=scores[keep], labels=labels[keep])

    def segment(self, merged: InstanceData, image_feats: List[Tuple[Tensor]],
                metas: List[dict]) -> InstanceData:
        """Masks of the merged detections, averaged over the views, pasted into the original
        image (see the class docstring); ``mask_scores`` by ``tta_cfg.mask_scores``."""
        roi_head = self.module.roi_head
        ori_shape = metas[0]['ori_shape'][:2]
        output_meta = dict(img_shape=ori_shape, ori_shape=ori_shape, scale_factor=(1.0, 1.0))
        mask_probs = merged.bboxes.new_zeros((0, 1, 1))  # stays so without detections
        mask_ious = merged.scores.new_zeros(len(merged))
        if len(merged):
            index = torch.arange(len(merged), device=merged.labels.device)
            view_probs = []
            for feats, meta in zip(image_feats, metas):
                rois = bbox2roi([boxes_to_view(merged.bboxes, meta)])
                mask_results = roi_head._mask_forward(feats, rois, [meta['img_shape']])
                probs = mask_results['mask_preds'][index, merged.labels].sigmoid()
                if meta.get('flip', False):
                    probs = probs.flip(FLIP_DIMS[meta['flip_direction']])
                view_probs.append(probs)
                if self.mask_scores == 'mask_iou':
                    mask_ious += roi_head._mask_iou_forward(mask_results, merged.labels)
            mask_probs = torch.stack(view_probs).mean(0)
        merged.mask_scores = (merged.scores if self.mask_scores == 'box' else
                              merged.scores * mask_ious / len(metas))
        return roi_head.finalize_detections(
            merged, mask_probs, output_meta, rescale=False, mask_probs=True)
