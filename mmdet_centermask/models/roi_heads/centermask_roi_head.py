from typing import List, Sequence, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.roi_heads import MaskScoringRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import empty_instances, unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, scale_boxes
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptMultiConfig
from ...structures import paste_masks_as_rle


def clip_to_image(bboxes: Tensor, img_shape: Tuple[int, int]) -> Tensor:
    """``(x1, y1, x2, y2)`` boxes clamped to an image of shape ``(h, w)``."""
    h, w = img_shape[:2]
    x1, y1, x2, y2 = bboxes.unbind(-1)
    return torch.stack([x1.clamp(0, w), y1.clamp(0, h), x2.clamp(0, w), y2.clamp(0, h)], dim=-1)


def has_area(bboxes: Tensor) -> Tensor:
    """Whether each ``(x1, y1, x2, y2)`` box has a positive width and height."""
    return (bboxes[..., 2] > bboxes[..., 0]) & (bboxes[..., 3] > bboxes[..., 1])


def covers_image_area(bboxes: Tensor, img_shape: Tuple[int, int]) -> Tensor:
    """Whether each ``(x1, y1, x2, y2)`` box covers a positive area of an image of shape
    ``(h, w)``: False for zero-area boxes and boxes entirely outside the image."""
    return has_area(clip_to_image(bboxes, img_shape))


@MODELS.register_module()
class CenterMaskRoIHead(MaskScoringRoIHead):
    """Mask-only RoI head of `CenterMask <https://arxiv.org/abs/1911.06667>`_.

    The boxes come from the FCOS head and are final, so there is no box
    branch: the RoIs are pooled with Equation 2 (each image's ``img_shape``
    reaches the RoI extractor), segmented by the SAG-Mask head (Sec. 2.4) and
    scored by the MaskIoU head of Mask Scoring R-CNN (Sec. 2.6). Training
    assigns and samples the FCOS detections plus the ground truth exactly as
    :class:`StandardRoIHead` does, and only positives reach the mask branch.

    At test time ``scores`` stay the box scores and ``mask_scores`` (box score
    times the predicted mask IoU of the label) are added: mmdet's
    :class:`CocoMetric` ranks segm results by ``mask_scores`` and bbox results
    by ``scores``, as centermask2's evaluator does.

    Args:
        mask_roi_extractor (dict): RoI extractor of the mask branch, usually
            ``AdaptiveRoIExtractor``.
        mask_head (dict): Mask head, usually ``SAGMaskHead``.
        mask_iou_head (dict): mmdet's ``MaskIoUHead``.
        train_cfg (dict, optional): ``assigner``, ``sampler``, ``mask_size``
            and ``mask_thr_binary`` (applied to mask logits by
            ``MaskIoUHead.get_targets``).
        test_cfg (dict, optional): ``mask_thr_binary`` (on probabilities),
            ``paste_masks_into``: ``'clipped_boxes'`` (default, centermask2) or
            ``'predicted_boxes'``, and ``mask_format``: ``'bitmap'`` (default, mmdet's
            bool tensor) or ``'rle'`` (COCO RLE per mask, each encoded as it is pasted:
            for large images, serving and batch inference; see
            :meth:`finalize_detections`).
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    PASTE_MODES = ('clipped_boxes', 'predicted_boxes')
    MASK_FORMATS = ('bitmap', 'rle')

    def __init__(self,
                 mask_roi_extractor: ConfigType,
                 mask_head: ConfigType,
                 mask_iou_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            mask_iou_head=mask_iou_head,
            mask_roi_extractor=mask_roi_extractor,
            mask_head=mask_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg)
        self.paste_masks_into = (test_cfg or {}).get('paste_masks_into', 'clipped_boxes')
        if self.paste_masks_into not in self.PASTE_MODES:
            raise ValueError(f'test_cfg.rcnn.paste_masks_into={self.paste_masks_into!r}: '
                             f'expected one of {self.PASTE_MODES}')
        self.mask_format = (test_cfg or {}).get('mask_format', 'bitmap')
        if self.mask_format not in self.MASK_FORMATS:
            raise ValueError(f'test_cfg.rcnn.mask_format={self.mask_format!r}: expected one of '
                             f'{self.MASK_FORMATS}')

    def _mask_forward(self, x: Tuple[Tensor], rois: Tensor,
                      img_shapes: Sequence[Tuple[int, int]]) -> dict:
        """Pool the RoIs by Equation 2 and run the mask head.

        Args:
            x (tuple[Tensor]): FPN features, finest first.
            rois (Tensor): (n, 5) RoIs ``[batch_idx, x1, y1, x2, y2]``.
            img_shapes (Sequence[tuple]): Unpadded ``(h, w)`` of each image.

        Returns:
            dict: ``mask_preds`` (n, num_classes, 28, 28) logits and
            ``mask_feats`` (n, C, 14, 14) pooled features.
        """
        mask_feats = self.mask_roi_extractor(
            x[:self.mask_roi_extractor.num_inputs], rois, img_shapes=img_shapes)
        return dict(mask_preds=self.mask_head(mask_feats), mask_feats=mask_feats)

    def _mask_iou_forward(self, mask_results: dict, labels: Tensor) -> Tensor:
        """Predicted mask IoU of each RoI for its own label, shape (n, )."""
        idx = torch.arange(labels.numel(), device=labels.device)
        mask_iou_preds = self.mask_iou_head(mask_results['mask_feats'],
                                            mask_results['mask_preds'][idx, labels])
        return mask_iou_preds[idx, labels]

    def forward(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
                batch_data_samples: SampleList) -> tuple:
        """Mask logits and mask IoU predictions of the given detections
        (``tensor`` mode, no post-processing).

        Returns:
            tuple[Tensor, Tensor]: Mask logits (n, num_classes, 28, 28) and
            the predicted IoU of each detection's label (n, ).
        """
        img_shapes = [s.metainfo['img_shape'] for s in batch_data_samples]
        rois = bbox2roi([res.bboxes for res in rpn_results_list])
        mask_results = self._mask_forward(x, rois, img_shapes)
        labels = torch.cat([res.labels for res in rpn_results_list])
        return mask_results['mask_preds'], self._mask_iou_forward(mask_results, labels)

    def loss(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: SampleList) -> dict:
        """Assign and sample the detections (plus GT) and compute the mask
        and mask IoU losses on the positives.

        Args:
            x (tuple[Tensor]): FPN features, finest first.
            rpn_results_list (list[:obj:`InstanceData`]): Training-time FCOS
                detections of each image (``bboxes``, ``scores``, ``labels``).
            batch_data_samples (list[:obj:`DetDataSample`]): Samples with
                ``gt_instances`` (``masks`` as polygons or bitmaps). Instances
                whose box covers no area of the image are left out.

        Returns:
            dict[str, Tensor]: ``loss_mask`` and ``loss_mask_iou``.
        """
        assert len(rpn_results_list) == len(batch_data_samples)
        batch_gt_instances, batch_gt_instances_ignore, batch_img_metas = \
            unpack_gt_instances(batch_data_samples)
        # a box without area in the image has nothing to segment (and mmdet's BitmapMasks.crop
        # returns no mask at all for one beyond the right or bottom border)
        batch_gt_instances = [
            gt[covers_image_area(gt.bboxes, meta['img_shape'])]
            for gt, meta in zip(batch_gt_instances, batch_img_metas)
        ]
        sampling_results = []
        for i, rpn_results in enumerate(rpn_results_list):
            rpn_results.priors = rpn_results.pop('bboxes')
            assign_result = self.bbox_assigner.assign(rpn_results, batch_gt_instances[i],
                                                      batch_gt_instances_ignore[i])
            sampling_results.append(
                self.bbox_sampler.sample(
                    assign_result,
                    rpn_results,
                    batch_gt_instances[i],
                    feats=[lvl_feat[i][None] for lvl_feat in x]))
        img_shapes = [meta['img_shape'] for meta in batch_img_metas]
        return self.mask_loss(x, sampling_results, batch_gt_instances, img_shapes)

    def mask_loss(self, x: Tuple[Tensor], sampling_results: List[SamplingResult],
                  batch_gt_instances: InstanceList,
                  img_shapes: Sequence[Tuple[int, int]]) -> dict:
        """Mask loss on the positives' GT class, and the MaskIoU loss against
        the IoU of the binarised prediction with the full GT mask.

        Returns:
            dict[str, Tensor]: ``loss_mask`` and ``loss_mask_iou``.
        """
        pos_rois = bbox2roi([res.pos_priors for res in sampling_results])
        mask_results = self._mask_forward(x, pos_rois, img_shapes)
        mask_loss_and_target = self.mask_head.loss_and_target(
            mask_preds=mask_results['mask_preds'],
            sampling_results=sampling_results,
            batch_gt_instances=batch_gt_instances,
            rcnn_train_cfg=self.train_cfg)
        pos_labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        idx = torch.arange(pos_labels.numel(), device=pos_labels.device)
        losses = dict(mask_loss_and_target['loss_mask'])
        losses.update(
            self.mask_iou_head.loss_and_target(
                self._mask_iou_forward(mask_results, pos_labels),
                mask_results['mask_preds'][idx, pos_labels],
                mask_loss_and_target['mask_targets'], sampling_results, batch_gt_instances,
                self.train_cfg))
        return losses

    def predict(self,
                x: Tuple[Tensor],
                rpn_results_list: InstanceList,
                batch_data_samples: SampleList,
                rescale: bool = False) -> InstanceList:
        """Segment and mask-score the FCOS detections.

        Args:
            x (tuple[Tensor]): FPN features, finest first.
            rpn_results_list (list[:obj:`InstanceData`]): FCOS detections of
                each image in input-image pixels (not rescaled).
            batch_data_samples (list[:obj:`DetDataSample`]): Samples with meta
                information.
            rescale (bool): Return boxes and masks at the original image size.

        Returns:
            list[:obj:`InstanceData`]: ``bboxes``, ``scores`` (box scores),
            ``labels``, ``masks`` (bool, n x H x W) and ``mask_scores``.
        """
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        return self.predict_mask(x, batch_img_metas, rpn_results_list, rescale=rescale)

    def predict_mask(self,
                     x: Tuple[Tensor],
                     batch_img_metas: List[dict],
                     results_list: InstanceList,
                     rescale: bool = False) -> InstanceList:
        """Masks and mask scores of the given detections (see :meth:`predict`).

        The mask branch runs on the boxes as FCOS gives them (unclipped in the zoo configs);
        :meth:`finalize_detections` then clips, drops and pastes as detectron2 does.
        """
        mask_rois = bbox2roi([res.bboxes for res in results_list])
        if mask_rois.shape[0] == 0:
            results_list = empty_instances(
                batch_img_metas,
                mask_rois.device,
                task_type='mask',
                instance_results=results_list,
                mask_thr_binary=self.test_cfg.mask_thr_binary)
            for results in results_list:
                results.mask_scores = results.scores.new_zeros((0, ))
                if self.mask_format == 'rle':
                    results.masks = []
            return results_list

        img_shapes = [meta['img_shape'] for meta in batch_img_metas]
        mask_results = self._mask_forward(x, mask_rois, img_shapes)
        labels = torch.cat([res.labels for res in results_list])
        num_rois_per_img = [len(res) for res in results_list]
        mask_ious = self._mask_iou_forward(mask_results, labels).split(num_rois_per_img)
        mask_preds = mask_results['mask_preds'].split(num_rois_per_img)
        final_results = []
        for results, mask_pred, mask_iou, img_meta in zip(results_list, mask_preds, mask_ious,
                                                          batch_img_metas):
            results.mask_scores = results.scores * mask_iou
            final_results.append(
                self.finalize_detections(results, mask_pred, img_meta, rescale))
        return final_results

    def finalize_detections(self,
                            results: InstanceData,
                            mask_preds: Tensor,
                            img_meta: dict,
                            rescale: bool = False,
                            mask_probs: bool = False) -> InstanceData:
        """Boxes to the output image, clipped, empty ones dropped, masks pasted (detectron2
        ``detector_postprocess``, which centermask2 runs after the mask branch).

        The boxes are rescaled to ``ori_shape`` (``rescale``) or kept at ``img_shape``,
        clipped to that size, and those left without width or height are dropped. Each mask
        is pasted, binarised at ``test_cfg.mask_thr_binary``, into its clipped box
        (``test_cfg.paste_masks_into='clipped_boxes'``, centermask2, whose published AP this
        reproduces) or into the box it was predicted for, then cut at the image border
        (``'predicted_boxes'``: the mask lands where the network saw it).

        Args:
            results (:obj:`InstanceData`): Detections of one image in input-image pixels.
            mask_preds (Tensor): Their mask logits, (n, num_classes, 28, 28), or with
                ``mask_probs`` each detection's mask probabilities, (n, 28, 28).
            img_meta (dict): ``img_shape``, ``ori_shape`` and ``scale_factor``.
            rescale (bool): Return boxes and masks at ``ori_shape``.
            mask_probs (bool): ``mask_preds`` are probabilities of the detections' own labels
                (test-time augmentation averages them), not logits of every class.

        Returns:
            :obj:`InstanceData`: The kept detections with clipped ``bboxes`` and bool
            ``masks`` (n, H, W), or with ``test_cfg.mask_format='rle'`` a list of n COCO
            RLE dicts (the same pixels, never all held as bitmaps).
        """
        bboxes = results.bboxes
        if rescale:
            bboxes = scale_boxes(bboxes, [1 / s for s in img_meta['scale_factor']])
            out_h, out_w = img_meta['ori_shape'][:2]
        else:
            out_h, out_w = img_meta['img_shape'][:2]
        clipped = clip_to_image(bboxes, (out_h, out_w))
        keep = has_area(clipped)
        paste_boxes = clipped if self.paste_masks_into == 'clipped_boxes' else bboxes
        results = results[keep]
        results.bboxes = clipped[keep]
        if len(results) == 0:
            results.masks = [] if self.mask_format == 'rle' else torch.zeros(
                (0, out_h, out_w), dtype=torch.bool, device=bboxes.device)
            return results
        mask_preds, labels = mask_preds[keep], results.labels
        if self.mask_format == 'rle':
            channels = 0 if self.mask_head.class_agnostic else labels
            probs = mask_preds if mask_probs else mask_preds[torch.arange(len(labels)),
                                                             channels].sigmoid()
            results.masks = paste_masks_as_rle(probs.cpu(), paste_boxes[keep].cpu(),
                                               (out_h, out_w), self.test_cfg.mask_thr_binary)
            return results
        if mask_probs:  # one channel per detection, which label 0 selects
            mask_preds, labels = mask_preds[:, None], torch.zeros_like(labels)
        results.masks = self.mask_head._predict_by_feat_single(
            mask_preds, paste_boxes[keep], labels,
            dict(scale_factor=(1.0, 1.0), ori_shape=(out_h, out_w)), self.test_cfg,
            rescale=True, activate_map=mask_probs)
        return results
