from typing import List, Optional, Tuple

from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from .centermask import CenterMask


@MODELS.register_module()
class PanopticCenterMask(CenterMask):
    """Panoptic-CenterMask (centermask2): detectron2's Panoptic FPN with CenterMask as its
    instance branch.

    The backbone gives four stages to the FPN, which outputs P2-P7: FCOS and the mask branch
    (Equation 2 on P3-P5) read the last ``len(bbox_head.strides)`` levels (P3-P7), the semantic
    head (``SemSegFPNHead``: stuff classes plus one things class) reads its
    ``[start_level, end_level)`` levels (P2-P5). At test time the fusion head lays the instances
    over the semantic argmax (detectron2's ``combine_semantic_and_instance_outputs``).

    mmdet's :class:`TwoStagePanopticSegmentor` cannot host CenterMask: it trains its RPN
    class-agnostic (zeroing the labels) and needs a box branch in the RoI head.

    Args:
        backbone, neck, bbox_head, roi_head: As :class:`CenterMask`; the neck has one more
            output level (P2) than FCOS has strides.
        semantic_head (dict): ``SemSegFPNHead`` config.
        panoptic_fusion_head (dict): ``ThresholdedHeuristicFusionHead`` config; its class
            counts are the semantic head's.
        train_cfg (dict, optional): As :class:`CenterMask`.
        test_cfg (dict): ``bbox`` and ``rcnn`` as :class:`CenterMask`, and ``panoptic``: the
            fusion settings (``instance_score_thr``, ``mask_overlap``, ``stuff_area_limit``).
        data_preprocessor (dict, optional): ``DetDataPreprocessor`` with ``pad_seg=True``,
            ``seg_pad_value=255``.
        init_cfg (dict or list[dict], optional): Initialization config.

    Raises:
        ValueError: As :class:`CenterMask`, and when the semantic head's thing classes are not
            the FCOS classes, its channels not the FPN's, its levels beyond the FPN's, or
            ``test_cfg.panoptic`` is missing.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 bbox_head: ConfigType,
                 roi_head: ConfigType,
                 semantic_head: ConfigType,
                 panoptic_fusion_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        if test_cfg is None or 'panoptic' not in test_cfg:
            raise ValueError('PanopticCenterMask needs test_cfg.panoptic: the fusion settings '
                             '(instance_score_thr, mask_overlap, stuff_area_limit); got '
                             f'{test_cfg}')
        if test_cfg.get('rcnn', {}).get('mask_format', 'bitmap') != 'bitmap':
            raise ValueError("PanopticCenterMask fuses the instance masks as bitmaps: "
                             "test_cfg.rcnn.mask_format='rle' is for CenterMask")
        super().__init__(
            backbone=backbone,
            neck=neck,
            bbox_head=bbox_head,
            roi_head=roi_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.semantic_head = MODELS.build(semantic_head)
        panoptic_fusion_head = dict(
            panoptic_fusion_head,
            num_things_classes=self.semantic_head.num_things_classes,
            num_stuff_classes=self.semantic_head.num_stuff_classes,
            test_cfg=test_cfg['panoptic'])
        self.panoptic_fusion_head = MODELS.build(panoptic_fusion_head)
        self._check_semantic_head()

    def fpn_strides(self) -> Optional[List[int]]:
        """Strides of the FPN outputs, when the backbone tells its output strides (VoVNet and
        ResNet: ``out_indices`` 0-3 are strides 4-32) and the neck is an FPN."""
        out_indices = getattr(self.backbone, 'out_indices', None)
        start_level = getattr(self.neck, 'start_level', None)
        num_levels = getattr(self.neck, 'num_outs', None)
        if out_indices is None or start_level is None or num_levels is None:
            return None
        first = 2**(out_indices[start_level] + 2)
        return [first * 2**i for i in range(num_levels)]

    def _check_levels(self) -> List[str]:
        """FCOS reads the last FPN levels: their strides must be FCOS's."""
        strides = list(self.bbox_head.strides)
        fpn_strides = self.fpn_strides()
        if fpn_strides is not None and fpn_strides[-len(strides):] != strides:
            return [f'the FPN outputs strides {fpn_strides} (backbone out_indices='
                    f'{tuple(self.backbone.out_indices)}, neck.num_outs={self.neck.num_outs}), '
                    f'whose last {len(strides)} must be bbox_head.strides={strides}']
        num_levels = getattr(self.neck, 'num_outs', None)
        if num_levels is not None and num_levels < len(strides):
            return [f'neck.num_outs={num_levels} is fewer than the {len(strides)} levels of '
                    f'bbox_head.strides={strides}']
        return []

    def _check_semantic_head(self) -> None:
        """The semantic head's thing classes, channels and levels must fit the rest."""
        head = self.semantic_head
        errors = []
        if head.num_things_classes != self.bbox_head.num_classes:
            errors.append(f'semantic_head.num_things_classes={head.num_things_classes} but '
                          f'bbox_head.num_classes={self.bbox_head.num_classes}')
        in_channels = head.conv_upsample_layers[0].conv[0].conv.in_channels
        fpn_channels = getattr(self.neck, 'out_channels', None)
        if fpn_channels is not None and in_channels != fpn_channels:
            errors.append(f'semantic_head.in_channels={in_channels} but '
                          f'neck.out_channels={fpn_channels}')
        num_levels = getattr(self.neck, 'num_outs', None)
        if num_levels is not None and head.end_level > num_levels:
            errors.append(f'semantic_head.end_level={head.end_level} but the neck outputs '
                          f'{num_levels} levels')
        if errors:
            raise ValueError('PanopticCenterMask config parts do not fit together: '
                             + '; '.join(errors))

    def instance_feats(self, x: Tuple[Tensor]) -> Tuple[Tensor]:
        """The last ``len(bbox_head.strides)`` FPN levels (P3-P7 of P2-P7)."""
        return x[len(x) - len(self.bbox_head.strides):]

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict:
        """The CenterMask losses plus the semantic loss (detectron2 Panoptic FPN: their sum,
        the semantic one weighted by ``semantic_head.loss_seg.loss_weight``).

        Args:
            batch_inputs (Tensor): Images (N, C, H, W), normalised and padded.
            batch_data_samples (list[:obj:`DetDataSample`]): Samples with ``gt_instances``
                and ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: The :class:`CenterMask` losses and ``loss_seg``.
        """
        x = self.extract_feat(batch_inputs)
        losses = self.instance_loss(x, batch_data_samples)
        losses.update(self.semantic_head.loss(x, batch_data_samples))
        return losses

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Instances, semantic logits and their fusion into a panoptic map.

        Args:
            batch_inputs (Tensor): Images (N, C, H, W), normalised and padded.
            batch_data_samples (list[:obj:`DetDataSample`]): Samples with meta information.
            rescale (bool): Return results at the original image size.

        Returns:
            list[:obj:`DetDataSample`]: ``pred_instances`` as :class:`CenterMask` and
            ``pred_panoptic_seg`` (``sem_seg``, (1, H, W): ``label + k * INSTANCE_OFFSET``
            for the ``k``-th laid instance, the stuff label for stuff, ``num_things +
            num_stuff`` for void), as mmdet's panoptic models give it.
        """
        x = self.extract_feat(batch_inputs)
        results_list = self.predict_instances(x, batch_data_samples, rescale=rescale)
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        seg_preds = self.semantic_head.predict(x, batch_img_metas, rescale=rescale)
        if not rescale:  # instances are at img_shape, the logits at the padded input size
            seg_preds = [seg[:, :meta['img_shape'][0], :meta['img_shape'][1]]
                         for seg, meta in zip(seg_preds, batch_img_metas)]
        panoptic_list = self.panoptic_fusion_head.predict(results_list, seg_preds)
        batch_data_samples = self.add_pred_to_datasample(batch_data_samples, results_list)
        for data_sample, panoptic in zip(batch_data_samples, panoptic_list):
            data_sample.pred_panoptic_seg = panoptic
        return batch_data_samples

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> Tuple[tuple, tuple, Tensor]:
        """Raw outputs (``tensor`` mode): :class:`CenterMask`'s and the semantic logits.

        Returns:
            tuple: The FCOS outputs, the mask branch outputs (empty without
            ``batch_data_samples``) and the semantic logits (N, stuff + 1, H/4, W/4).
        """
        x = self.extract_feat(batch_inputs)
        fcos_outs, mask_outs = self.forward_instances(x, batch_data_samples)
        return fcos_outs, mask_outs, self.semantic_head(x)['seg_preds']
