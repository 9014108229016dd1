from typing import List, Optional, Tuple

import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.dense_heads import FCOSHead
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import InstanceList


@MODELS.register_module()
class CenterMaskFCOSHead(FCOSHead):
    """The class-aware FCOS box head of `CenterMask
    <https://arxiv.org/abs/1911.06667>`_ (Sec. 2.2), whose boxes are the detections.

    It is mmdet's :class:`FCOSHead` with two differences that matter when its
    detections feed a mask branch:

    * the detection score is ``sqrt(cls_prob * centerness)`` as in centermask2
      (mmdet's FCOS uses the plain product; the NMS order is the same, but the
      values differ, and CenterMask's mask score multiplies them by the mask IoU),
      and the pre-NMS candidates of each level are the ``nms_pre`` best by
      ``cls_prob * centerness`` among those whose ``cls_prob`` passes ``score_thr``
      (centermask2's rule; mmdet ranks by ``cls_prob``);
    * :meth:`loss_and_predict` decodes the training-time detections in pixels.
      With ``norm_on_bbox=True``, :meth:`FCOSHead.forward_single` returns
      distances in stride units while training, so the stock method would hand
      boxes that are ``stride`` times too small to the mask branch.

    Args:
        sqrt_score (bool): Score detections by ``sqrt(cls_prob * centerness)``
            instead of ``cls_prob * centerness``. Defaults to True.
        **kwargs: Arguments of :class:`FCOSHead`.

    Example:
        >>> import torch
        >>> head = CenterMaskFCOSHead(num_classes=3, in_channels=8,
        ...     feat_channels=8, stacked_convs=1, norm_cfg=None,
        ...     strides=[8, 16], regress_ranges=((-1, 64), (64, 1e8)))
        >>> feats = [torch.rand(1, 8, s, s) for s in [8, 4]]
        >>> cls_scores, bbox_preds, centernesses = head(feats)
        >>> [tuple(c.shape) for c in cls_scores]
        [(1, 3, 8, 8), (1, 3, 4, 4)]
    """

    def __init__(self, *args, sqrt_score: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sqrt_score = sqrt_score

    def loss_and_predict(
        self,
        x: Tuple[Tensor],
        batch_data_samples: SampleList,
        proposal_cfg: Optional[ConfigDict] = None
    ) -> Tuple[dict, InstanceList]:
        """FCOS losses and the detections that are sampled for the mask branch.

        Args:
            x (tuple[Tensor]): Features of the FPN levels.
            batch_data_samples (list[:obj:`DetDataSample`]): Samples with
                ``gt_instances`` and meta information.
            proposal_cfg (ConfigDict, optional): Post-processing of the
                training-time detections (``train_cfg.bbox`` of CenterMask:
                score threshold, NMS, top-100). Defaults to ``test_cfg``.

        Returns:
            tuple[dict, list[:obj:`InstanceData`]]: The losses, and per image
            the detections (``bboxes`` in input-image pixels, ``scores``,
            ``labels``), computed from detached predictions.
        """
        batch_gt_instances, batch_gt_instances_ignore, batch_img_metas = \
            unpack_gt_instances(batch_data_samples)
        cls_scores, bbox_preds, centernesses = self(x)
        losses = self.loss_by_feat(cls_scores, bbox_preds, centernesses, batch_gt_instances,
                                   batch_img_metas, batch_gt_instances_ignore)
        if self.norm_on_bbox:
            bbox_preds = [
                bbox_pred * stride[0]
                for bbox_pred, stride in zip(bbox_preds, self.prior_generator.strides)
            ]
        predictions = self.predict_by_feat(
            cls_scores, bbox_preds, centernesses, batch_img_metas=batch_img_metas,
            cfg=proposal_cfg)
        return losses, predictions

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        **kwargs) -> InstanceList:
        """mmdet's post-processing, in float32 also under mixed precision.

        mmdet makes the point priors in the dtype of ``cls_scores``: in bfloat16, P3 points
        beyond 1024 px are off by up to 4 px. Scores and boxes also reach NMS in float32,
        the only dtype of mmcv's CPU kernel.
        """
        return super().predict_by_feat(
            [cls_score.float() for cls_score in cls_scores],
            [bbox_pred.float() for bbox_pred in bbox_preds],
            None if score_factors is None else [factor.float() for factor in score_factors],
            **kwargs)

    def _predict_by_feat_single(self,
                                cls_score_list: List[Tensor],
                                bbox_pred_list: List[Tensor],
                                score_factor_list: List[Tensor],
                                mlvl_priors: List[Tensor],
                                img_meta: dict,
                                cfg: ConfigDict,
                                rescale: bool = False,
                                with_nms: bool = True) -> InstanceData:
        """Candidates of one image as centermask2 selects them, then mmdet's NMS and top-k.

        Per level (centermask2 ``FCOSOutputs.forward_for_single_feature_map``): the
        (point, class) pairs whose class probability passes ``score_thr`` are candidates, and
        the ``nms_pre`` of them with the highest ``cls_prob * centerness`` are kept (mmdet keeps
        the best by ``cls_prob`` alone and multiplies afterwards). Boxes are decoded by
        ``bbox_coder``, clipped to ``img_shape`` only when its ``clip_border`` is True (the
        zoo configs keep centermask2's unclipped boxes). Scores are ``sqrt(cls_prob *
        centerness)`` when ``sqrt_score``. :meth:`_bbox_post_process` then drops boxes not
        larger than ``min_bbox_size`` (none with -1, as centermask2), runs the class-aware NMS
        and keeps ``max_per_img``.

        Args:
            cls_score_list (list[Tensor]): Class logits of each level, (C, H, W).
            bbox_pred_list (list[Tensor]): Distances of each level in pixels, (4, H, W).
            score_factor_list (list[Tensor]): Centerness logits of each level, (1, H, W).
            mlvl_priors (list[Tensor]): Points of each level, (H * W, 2).
            img_meta (dict): Meta information of the image (``img_shape``, ``scale_factor``).
            cfg (ConfigDict): Post-processing config; ``test_cfg`` when None.
            rescale (bool): Return boxes at the original image size.
            with_nms (bool): Run the NMS.

        Returns:
            :obj:`InstanceData`: ``bboxes``, ``scores`` and ``labels`` of the detections.
        """
        cfg = self.test_cfg if cfg is None else cfg
        score_thr = cfg.get('score_thr', 0)
        nms_pre = cfg.get('nms_pre', -1)
        mlvl_bboxes, mlvl_scores, mlvl_labels = [], [], []
        for cls_score, bbox_pred, centerness, priors in zip(cls_score_list, bbox_pred_list,
                                                            score_factor_list, mlvl_priors):
            cls_prob = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels).sigmoid()
            centerness = centerness.permute(1, 2, 0).reshape(-1).sigmoid()
            bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, 4)
            point_inds, labels = (cls_prob > score_thr).nonzero(as_tuple=True)
            scores = cls_prob[point_inds, labels] * centerness[point_inds]
            if 0 < nms_pre < scores.numel():
                scores, top_inds = scores.topk(nms_pre)
                point_inds, labels = point_inds[top_inds], labels[top_inds]
            mlvl_bboxes.append(
                self.bbox_coder.decode(priors[point_inds], bbox_pred[point_inds],
                                       max_shape=img_meta['img_shape']))
            mlvl_scores.append(scores)
            mlvl_labels.append(labels)
        scores = torch.cat(mlvl_scores)
        results = InstanceData(
            bboxes=torch.cat(mlvl_bboxes),
            scores=scores.sqrt() if self.sqrt_score else scores,
            labels=torch.cat(mlvl_labels))
        return self._bbox_post_process(
            results=results, cfg=cfg, rescale=rescale, with_nms=with_nms, img_meta=img_meta)
