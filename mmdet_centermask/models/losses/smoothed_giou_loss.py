from typing import Optional

import torch
from torch import Tensor, nn

from mmdet.models.losses.utils import weighted_loss
from mmdet.registry import MODELS


@weighted_loss
def smoothed_giou_loss(pred: Tensor, target: Tensor, smooth: float = 1.0,
                       eps: float = 1e-6) -> Tensor:
    """``1 - GIoU`` with the IoU smoothed as ``(I + smooth) / (U + smooth)``.

    Args:
        pred (Tensor): Predicted boxes ``(x1, y1, x2, y2)``, shape (n, 4).
        target (Tensor): Target boxes, shape (n, 4).
        smooth (float): Added to intersection and union. Defaults to 1.0.
        eps (float): Lower bound of the enclosing area (only reached by two
            degenerate boxes). Defaults to 1e-6.

    Returns:
        Tensor: The loss of each box pair, shape (n, ).
    """
    pred, target = pred.float(), target.float()
    pred_area = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    target_area = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    inter_wh = (torch.min(pred[:, 2:], target[:, 2:]) -
                torch.max(pred[:, :2], target[:, :2])).clamp(min=0)
    intersection = inter_wh[:, 0] * inter_wh[:, 1]
    union = pred_area + target_area - intersection
    enclose_wh = (torch.max(pred[:, 2:], target[:, 2:]) -
                  torch.min(pred[:, :2], target[:, :2])).clamp(min=0)
    enclose_area = (enclose_wh[:, 0] * enclose_wh[:, 1]).clamp(min=eps)
    ious = (intersection + smooth) / (union + smooth)
    gious = ious - (enclose_area - union) / enclose_area
    return 1 - gious


@MODELS.register_module()
class SmoothedGIoULoss(nn.Module):
    """The GIoU loss of FCOS as centermask2 computes it (``IOULoss('giou')`` in
    ``centermask/layers/iou_loss.py``): the IoU term is ``(I + 1) / (U + 1)``.

    centermask2 applies it to the stride-normalised ``(l, t, r, b)`` distances of each positive
    point; mmdet's :class:`FCOSHead` (``norm_on_bbox=True``) hands the same distances decoded
    around the point as boxes, and intersection, union and enclosing box do not depend on where
    the point is, so the values agree. Without smoothing this is mmdet's :class:`GIoULoss`; the
    smoothing matters for small stride-normalised boxes (a box of 1 x 1 stride against a target
    of 2 x 2 has IoU 0.25 but smoothed IoU 0.4).

    Args:
        smooth (float): Added to intersection and union. Defaults to 1.0 (centermask2).
        eps (float): Lower bound of the enclosing area. Defaults to 1e-6.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 smooth: float = 1.0,
                 eps: float = 1e-6,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.smooth = smooth
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """The weighted loss, as mmdet's :class:`GIoULoss` reduces it (FCOS passes the
        centerness targets as ``weight`` and their sum as ``avg_factor``, as centermask2
        does).

        Args:
            pred (Tensor): Predicted boxes ``(x1, y1, x2, y2)``, shape (n, 4).
            target (Tensor): Target boxes, shape (n, 4).
            weight (Tensor, optional): Weight of each pair, shape (n, ).
            avg_factor (float, optional): Divisor of the summed loss.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The loss.
        """
        if weight is not None and not torch.any(weight > 0):
            return (pred * weight[:, None]).sum()  # zero, but in the graph
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * smoothed_giou_loss(
            pred, target, weight, smooth=self.smooth, eps=self.eps, reduction=reduction,
            avg_factor=avg_factor)
