from typing import Dict, Tuple, Union

import torch
from torch import Tensor, nn

from mmdet.models.seg_heads import PanopticFPNHead
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

IGNORE_INDEX = 255


@MODELS.register_module()
class SemSegFPNHead(PanopticFPNHead):
    """detectron2's ``SemSegFPNHead`` (Panoptic FPN, Kirillov et al., CVPR 2019), the semantic
    branch of centermask2's Panoptic-CenterMask, on mmdet's :class:`PanopticFPNHead`.

    The layers are mmdet's (per FPN level ``max(1, level - 2)`` conv-GN-ReLU blocks, each followed
    by a 2x bilinear upsampling until stride 4, summed, then a 1x1 predictor). What follows
    detectron2 instead of mmdet's head:

    - the loss is taken at the ground truth's resolution (the stride-4 logits are upsampled
      bilinearly; mmdet subsamples the ground truth to stride 4 instead), averaged over the
      pixels that are not ``255`` (``loss_seg.avg_non_ignore``);
    - the predictor is initialised as detectron2's ``c2_msra_fill`` (Kaiming normal, fan-out,
      zero bias; mmdet draws it from N(0, 0.01));
    - a ground-truth label that is neither a class of the head nor 255 is an error naming the
      class counts (otherwise the cross-entropy fails inside torch, or a thing label of a
      dataset with more stuff classes is taken for a stuff one).

    The output channels are mmdet's: the stuff classes in dataset order, then one channel for
    all things (detectron2 puts the things channel first; the centermask2 converter reorders).

    Args:
        num_things_classes (int): Thing classes of the dataset (80 on COCO).
        num_stuff_classes (int): Stuff classes of the dataset (53 on COCO).
        in_channels (int): FPN channels.
        inner_channels (int): Channels of the per-level convs (detectron2 ``CONVS_DIM``, 128).
        start_level (int): First FPN level used (0: P2, the common stride 4).
        end_level (int): One past the last FPN level used (4: P5).
        conv_cfg (dict, optional): Conv config.
        norm_cfg (dict): Norm config (GroupNorm with 32 groups, detectron2 ``NORM='GN'``).
        loss_seg (dict): Cross-entropy over the classes, ``ignore_index=255``,
            ``avg_non_ignore=True``, weight 0.5 (centermask2 ``SEM_SEG_HEAD.LOSS_WEIGHT``).
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(self,
                 num_things_classes: int = 80,
                 num_stuff_classes: int = 53,
                 in_channels: int = 256,
                 inner_channels: int = 128,
                 start_level: int = 0,
                 end_level: int = 4,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(type='GN', num_groups=32, requires_grad=True),
                 loss_seg: ConfigType = dict(
                     type='CrossEntropyLoss',
                     ignore_index=IGNORE_INDEX,
                     avg_non_ignore=True,
                     loss_weight=0.5),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            num_things_classes=num_things_classes,
            num_stuff_classes=num_stuff_classes,
            in_channels=in_channels,
            inner_channels=inner_channels,
            start_level=start_level,
            end_level=end_level,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            loss_seg=loss_seg,
            init_cfg=init_cfg)
        # the loss is taken at the resolution of the ground truth
        self.seg_rescale_factor = 1.0

    def init_weights(self) -> None:
        """mmdet's init for the convs (Kaiming normal, fan-out = detectron2's ``c2_msra_fill``),
        and ``c2_msra_fill`` for the predictor too."""
        super().init_weights()
        nn.init.kaiming_normal_(self.conv_logits.weight, mode='fan_out', nonlinearity='relu')
        nn.init.zeros_(self.conv_logits.bias)

    def check_labels(self, gt_semantic_segs: Tensor) -> None:
        """Raise if a ground-truth label is outside ``[0, things + stuff)`` and not 255.

        Raises:
            ValueError: Naming the labels and the class counts of the head.
        """
        num_classes = self.num_things_classes + self.num_stuff_classes
        labels = torch.unique(gt_semantic_segs)
        bad = labels[((labels < 0) | (labels >= num_classes)) & (labels != IGNORE_INDEX)]
        if len(bad):
            raise ValueError(
                f'gt_sem_seg holds labels {bad.tolist()}, but semantic_head has '
                f'num_things_classes={self.num_things_classes} + num_stuff_classes='
                f'{self.num_stuff_classes} = {num_classes} classes (labels 0..{num_classes - 1}, '
                f'{IGNORE_INDEX} = void): set both to the thing_classes and stuff_classes counts '
                "of the dataset's metainfo")

    def loss(self, x: Union[Tensor, Tuple[Tensor]],
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Cross-entropy of the upsampled logits against ``gt_sem_seg`` (things merged into one
        class, void ignored), as detectron2 ``SemSegFPNHead.losses``.

        Args:
            x (tuple[Tensor]): FPN features, finest first.
            batch_data_samples (list[:obj:`DetDataSample`]): Samples with ``gt_sem_seg``
                (padded with 255 to the batch size).

        Returns:
            dict[str, Tensor]: ``loss_seg``.
        """
        gt_semantic_segs = torch.stack([s.gt_sem_seg.sem_seg for s in batch_data_samples])
        self.check_labels(gt_semantic_segs)
        return super().loss(x, batch_data_samples)
