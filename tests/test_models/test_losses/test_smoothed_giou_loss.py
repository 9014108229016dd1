"""SmoothedGIoULoss: centermask2's IOULoss('giou') with (I + 1) / (U + 1), on boxes."""
import pytest
import torch

from mmdet.models.losses import GIoULoss
from mmdet_centermask.models.losses import SmoothedGIoULoss


def centermask2_giou_loss(pred_ltrb: torch.Tensor, target_ltrb: torch.Tensor) -> torch.Tensor:
    """centermask2's formula on (l, t, r, b) distances (centermask/layers/iou_loss.py), per pair."""
    pl, pt, pr, pb = pred_ltrb.unbind(1)
    tl, tt, tr, tb = target_ltrb.unbind(1)
    target_area = (tl + tr) * (tt + tb)
    pred_area = (pl + pr) * (pt + pb)
    w_intersect = torch.min(pl, tl) + torch.min(pr, tr)
    h_intersect = torch.min(pb, tb) + torch.min(pt, tt)
    enclose = (torch.max(pl, tl) + torch.max(pr, tr)) * (torch.max(pb, tb) + torch.max(pt, tt))
    intersect = w_intersect * h_intersect
    union = target_area + pred_area - intersect
    ious = (intersect + 1.0) / (union + 1.0)
    return 1 - (ious - (enclose - union) / enclose)


def test_hand_values_and_difference_to_giou():
    # 1 x 1 inside 1 x 2 (stride units): IoU 1/2, smoothed (1 + 1) / (2 + 1) = 2/3, no enclosing
    # penalty -> 1/3 against mmdet's 1/2 (a third lower). Disjoint 1 x 1 boxes side by side with a
    # gap of 1: I = 0, U = 2, enclosing 3 -> smoothed 1/3 - 1/3 = 0, loss 1; GIoU loss 4/3.
    pred = torch.tensor([[0., 0., 1., 1.], [0., 0., 1., 1.]])
    target = torch.tensor([[0., 0., 1., 2.], [2., 0., 3., 1.]])
    loss = SmoothedGIoULoss(reduction='none')(pred, target)
    torch.testing.assert_close(loss, torch.tensor([1 / 3, 1.0]))
    giou = GIoULoss(reduction='none')(pred, target)
    torch.testing.assert_close(giou, torch.tensor([0.5, 4 / 3]))
    assert (giou[0] - loss[0]) / giou[0] == pytest.approx(1 / 3)


def test_equals_centermask2_formula_on_distances_decoded_around_points():
    """mmdet's FCOS decodes the distances around each point; the loss must not depend on it."""
    generator = torch.Generator().manual_seed(0)
    pred_ltrb = torch.rand(200, 4, generator=generator) * 6
    target_ltrb = torch.rand(200, 4, generator=generator) * 6 + 0.1
    points = torch.rand(200, 2, generator=generator) * 100

    def decode(ltrb):
        return torch.cat([points - ltrb[:, :2], points + ltrb[:, 2:]], 1)

    ours = SmoothedGIoULoss(reduction='none')(decode(pred_ltrb), decode(target_ltrb))
    torch.testing.assert_close(ours, centermask2_giou_loss(pred_ltrb, target_ltrb),
                               rtol=0, atol=2e-5)


def test_without_smoothing_equals_mmdet_giou():
    generator = torch.Generator().manual_seed(1)
    xy = torch.rand(50, 2, generator=generator) * 50
    pred = torch.cat([xy, xy + torch.rand(50, 2, generator=generator) * 30 + 1], 1)
    target = pred + torch.randn(50, 4, generator=generator) * 3
    target[:, 2:] = torch.max(target[:, 2:], target[:, :2] + 1)
    torch.testing.assert_close(
        SmoothedGIoULoss(smooth=0.0, reduction='none')(pred, target),
        GIoULoss(reduction='none')(pred, target))


def test_weighted_reduction_as_fcos_uses_it():
    pred = torch.tensor([[0., 0., 1., 1.], [0., 0., 1., 1.]], requires_grad=True)
    target = torch.tensor([[0., 0., 1., 2.], [2., 0., 3., 1.]])
    weight = torch.tensor([0.5, 0.25])
    loss = SmoothedGIoULoss(loss_weight=2.0)(pred, target, weight=weight, avg_factor=0.75)
    torch.testing.assert_close(loss, torch.tensor(2.0 * (0.5 / 3 + 0.25) / 0.75))
    zero = SmoothedGIoULoss()(pred, target, weight=torch.zeros(2))
    assert zero.item() == 0
    zero.backward()
    assert pred.grad is not None
