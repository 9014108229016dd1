from typing import List, Optional, Tuple

from torch import Tensor, nn

from mmdet.models.backbones import RegNet, ResNet
from mmdet.models.detectors import SingleStageDetector
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptMultiConfig

from ..backbones import CenterMaskMobileNetV2, VoVNet


def backbone_out_channels(backbone: nn.Module) -> Optional[List[int]]:
    """Channels of a backbone's outputs, or None when they are not known without a forward.

    Known for :class:`VoVNet`, :class:`CenterMaskMobileNetV2` and mmdet's ResNet family (ResNet,
    ResNetV1d, ResNeXt, Res2Net, ResNeSt; not RegNet, whose stage widths follow another rule).
    """
    if isinstance(backbone, (VoVNet, CenterMaskMobileNetV2)):
        return list(backbone.out_channels)
    if isinstance(backbone, ResNet) and not isinstance(backbone, RegNet):
        return [backbone.base_channels * 2**i * backbone.block.expansion
                for i in backbone.out_indices]
    return None


@MODELS.register_module()
class CenterMask(SingleStageDetector):
    """`CenterMask: Real-Time Anchor-Free Instance Segmentation
    <https://arxiv.org/abs/1911.06667>`_ (CVPR 2020).

    Backbone and FPN feed a class-aware FCOS head (``bbox_head``) whose
    detections are final; the mask branch (``roi_head``: Equation 2 RoIAlign,
    SAG-Mask and MaskIoU heads) segments them (Fig. 2).

    It is a single-stage detector with a mask branch rather than mmdet's
    :class:`TwoStageDetector`, which would force the FCOS head to one class,
    zero the ground-truth labels it trains on and require a box head in the
    RoI head.

    Args:
        backbone (dict): Backbone config, e.g. ``VoVNet`` or ``ResNet``.
        neck (dict): FPN config (P3-P7).
        bbox_head (dict): ``CenterMaskFCOSHead`` config.
        roi_head (dict): ``CenterMaskRoIHead`` config.
        train_cfg (dict, optional): ``bbox``: post-processing of the FCOS
            detections that are sampled for the mask branch (top-100);
            ``rcnn``: assigner, sampler and mask target settings.
        test_cfg (dict): Required. ``bbox``: FCOS post-processing (top-50);
            ``rcnn``: ``mask_thr_binary``.
        data_preprocessor (dict, optional): ``DetDataPreprocessor`` config.
        init_cfg (dict or list[dict], optional): Initialization config.

    Raises:
        ValueError: When the three heads disagree on ``num_classes``, or the channels of backbone,
            neck and heads (or the FPN levels and the FCOS strides) do not fit together.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 bbox_head: ConfigType,
                 roi_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        self._check_num_classes(bbox_head, roi_head)
        if test_cfg is None or 'bbox' not in test_cfg or 'rcnn' not in test_cfg:
            raise ValueError('CenterMask needs test_cfg=dict(bbox=..., rcnn=...): the FCOS '
                             f'post-processing and the mask threshold; got {test_cfg}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            bbox_head=bbox_head,
            train_cfg=train_cfg['bbox'] if train_cfg is not None else None,
            test_cfg=test_cfg['bbox'],
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        roi_head = roi_head.copy()
        roi_head.update(
            train_cfg=train_cfg['rcnn'] if train_cfg is not None else None,
            test_cfg=test_cfg['rcnn'])
        self.roi_head = MODELS.build(roi_head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg
        self._check_channels()

    @staticmethod
    def _check_num_classes(bbox_head: ConfigType, roi_head: ConfigType) -> None:
        """The box, mask and MaskIoU heads must agree on the class count."""
        counts = {
            'bbox_head': bbox_head.get('num_classes'),
            'roi_head.mask_head': roi_head.get('mask_head', {}).get('num_classes'),
            'roi_head.mask_iou_head': roi_head.get('mask_iou_head', {}).get('num_classes'),
        }
        if len(set(counts.values())) != 1:
            raise ValueError(
                'CenterMask heads disagree on num_classes: '
                + ', '.join(f'{name}={n}' for name, n in counts.items())
                + '. Set all three to the number of foreground classes of the dataset '
                '(no background class).')

    def _check_channels(self) -> None:
        """The neck must take the backbone's output channels, and every head the FPN's channels
        and levels; otherwise the first forward fails inside a convolution."""
        errors = []
        backbone_channels = backbone_out_channels(self.backbone)
        neck_in_channels = getattr(self.neck, 'in_channels', None)
        if backbone_channels is not None and neck_in_channels is not None \
                and list(neck_in_channels) != backbone_channels:
            errors.append(f'neck.in_channels={list(neck_in_channels)} but the backbone '
                          f'({type(self.backbone).__name__}, out_indices='
                          f'{tuple(self.backbone.out_indices)}) outputs {backbone_channels} '
                          'channels')
        fpn_channels = getattr(self.neck, 'out_channels', None)
        if fpn_channels is not None:
            fpn_readers = {
                'bbox_head.in_channels': self.bbox_head.in_channels,
                'roi_head.mask_roi_extractor.out_channels':
                self.roi_head.mask_roi_extractor.out_channels,
                'roi_head.mask_head.in_channels': self.roi_head.mask_head.in_channels,
                'roi_head.mask_iou_head.in_channels': self.roi_head.mask_iou_head.in_channels,
            }
            errors += [f'{key}={channels} but neck.out_channels={fpn_channels}'
                       for key, channels in fpn_readers.items() if channels != fpn_channels]
        errors += self._check_levels()
        if errors:
            raise ValueError('CenterMask config parts do not fit together: ' + '; '.join(errors))

    def _check_levels(self) -> List[str]:
        """The FPN must output one level per FCOS stride."""
        num_levels = getattr(self.neck, 'num_outs', None)
        strides = list(self.bbox_head.strides)
        if num_levels is not None and num_levels != len(strides):
            return [f'neck.num_outs={num_levels} but bbox_head.strides={strides} has '
                    f'{len(strides)} levels']
        return []

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict:
        """FCOS losses plus mask and MaskIoU losses on the sampled FCOS
        detections (Sec. 2.6: L = L_cls + L_center + L_box + L_mask + L_maskiou).

        Args:
            batch_inputs (Tensor): Images (N, C, H, W), normalised and padded.
            batch_data_samples (list[:obj:`DetDataSample`]): Samples with
                ``gt_instances`` (``bboxes``, ``labels``, ``masks``).

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_centerness``,
            ``loss_mask`` and ``loss_mask_iou``.
        """
        return self.instance_loss(self.extract_feat(batch_inputs), batch_data_samples)

    def instance_feats(self, x: Tuple[Tensor]) -> Tuple[Tensor]:
        """The FPN levels of the FCOS head and the mask branch: all of them (P3-P7)."""
        return x

    def instance_loss(self, x: Tuple[Tensor], batch_data_samples: SampleList) -> dict:
        """FCOS, mask and MaskIoU losses on the FPN features ``x`` (see :meth:`loss`)."""
        x = self.instance_feats(x)
        losses, detections = self.bbox_head.loss_and_predict(
            x, batch_data_samples, proposal_cfg=self.train_cfg['bbox'])
        losses.update(self.roi_head.loss(x, detections, batch_data_samples))
        return losses

    def predict_instances(self, x: Tuple[Tensor], batch_data_samples: SampleList,
                          rescale: bool = True) -> InstanceList:
        """Detections with masks and mask scores on the FPN features ``x`` (see
        :meth:`predict`)."""
        x = self.instance_feats(x)
        detections = self.bbox_head.predict(x, batch_data_samples, rescale=False)
        return self.roi_head.predict(x, detections, batch_data_samples, rescale=rescale)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detect with FCOS, then segment and mask-score the detections.

        Args:
            batch_inputs (Tensor): Images (N, C, H, W), normalised and padded.
            batch_data_samples (list[:obj:`DetDataSample`]): Samples with meta
                information (``img_shape``, ``ori_shape``, ``scale_factor``).
            rescale (bool): Return results at the original image size.

        Returns:
            list[:obj:`DetDataSample`]: ``pred_instances`` with ``bboxes``,
            ``scores``, ``labels``, ``masks`` and ``mask_scores``.
        """
        results_list = self.predict_instances(
            self.extract_feat(batch_inputs), batch_data_samples, rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> Tuple[tuple, tuple]:
        """Raw outputs without post-processing of the masks (``tensor`` mode).

        Returns:
            tuple: The FCOS outputs ``(cls_scores, bbox_preds, centernesses)``
            and, when ``batch_data_samples`` are given, the mask branch outputs
            ``(mask_preds, mask_ious)`` for the FCOS detections.
        """
        return self.forward_instances(self.extract_feat(batch_inputs), batch_data_samples)

    def forward_instances(self, x: Tuple[Tensor],
                          batch_data_samples: OptSampleList = None) -> Tuple[tuple, tuple]:
        """The raw outputs of :meth:`_forward` on the FPN features ``x``."""
        x = self.instance_feats(x)
        fcos_outs = self.bbox_head.forward(x)
        if batch_data_samples is None:
            return fcos_outs, ()
        detections = self.bbox_head.predict_by_feat(
            *fcos_outs, batch_img_metas=[s.metainfo for s in batch_data_samples])
        return fcos_outs, self.roi_head.forward(x, detections, batch_data_samples)
