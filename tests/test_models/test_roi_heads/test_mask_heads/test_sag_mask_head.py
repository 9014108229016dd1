"""SAGMaskHead and its SpatialAttention module (CenterMask Sec. 2.4)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmdet.testing import demo_mm_inputs, demo_mm_proposals, demo_mm_sampling_results

from mmdet_centermask.models.layers import SpatialAttention
from mmdet_centermask.models.roi_heads.mask_heads import SAGMaskHead


def attention_with_center_tap(channel, value=1.0):
    """A SpatialAttention whose conv only reads the centre of input channel ``channel``."""
    attention = SpatialAttention()
    with torch.no_grad():
        attention.conv.weight.zero_()
        attention.conv.weight[0, channel, 1, 1] = value
    return attention


def test_attention_mean_channel():
    x = torch.randn(3, 5, 7, 7)
    mean = x.sum(dim=1, keepdim=True) / 5
    torch.testing.assert_close(attention_with_center_tap(0)(x), x * torch.sigmoid(mean))


def test_attention_max_channel_comes_second():
    x = torch.randn(3, 5, 7, 7)
    maximum = torch.stack([x[:, c] for c in range(5)]).max(dim=0).values[:, None]
    torch.testing.assert_close(attention_with_center_tap(1)(x), x * torch.sigmoid(maximum))


def test_attention_conv_has_no_bias_and_no_activation():
    attention = SpatialAttention()
    assert attention.conv.bias is None
    assert list(attention.state_dict()) == ['conv.weight']
    assert attention.conv.weight.shape == (1, 2, 3, 3)
    # Positive features and a negative tap: a ReLU before the sigmoid would give exactly 0.5.
    x = torch.rand(2, 4, 6, 6) + 0.1
    gate = attention_with_center_tap(0, value=-1.0)(x) / x
    assert (gate < 0.5).all()
    torch.testing.assert_close(gate, torch.sigmoid(-x.mean(dim=1, keepdim=True)).expand_as(x))


def test_attention_zero_padding():
    # A top-left tap reads position (i - 1, j - 1): row 0 and column 0 see zero padding.
    x = torch.randn(1, 3, 5, 5)
    attention = SpatialAttention()
    with torch.no_grad():
        attention.conv.weight.zero_()
        attention.conv.weight[0, 0, 0, 0] = 1.0
    shifted = F.pad(x.mean(dim=1, keepdim=True), (1, 0, 1, 0))[..., :5, :5]
    torch.testing.assert_close(attention(x), x * torch.sigmoid(shifted))


@pytest.mark.parametrize('num_convs,channels', [(4, 256), (2, 128)])
def test_output_shape(num_convs, channels):
    head = MODELS.build(
        dict(type='SAGMaskHead', num_convs=num_convs, in_channels=channels,
             conv_out_channels=channels, num_classes=80))
    assert len(head.convs) == num_convs
    assert all(conv.conv.out_channels == channels for conv in head.convs)
    assert head(torch.randn(3, channels, 14, 14)).shape == (3, 80, 28, 28)
    assert head(torch.randn(0, channels, 14, 14)).shape == (0, 80, 28, 28)


def test_state_dict_keys():
    state = SAGMaskHead().state_dict()
    assert state['spatial_attention.conv.weight'].shape == (1, 2, 3, 3)
    assert 'spatial_attention.conv.bias' not in state
    assert {f'convs.{i}.conv.weight' for i in range(4)} <= set(state)
    assert state['upsample.weight'].shape == (256, 256, 2, 2)
    assert state['conv_logits.weight'].shape == (80, 256, 1, 1)


def test_forward_matches_functional_reference():
    torch.manual_seed(0)
    head = SAGMaskHead(num_convs=2, in_channels=8, conv_out_channels=6, num_classes=3)
    head.init_weights()
    x = torch.randn(4, 8, 14, 14)
    y = x
    for conv in head.convs:
        y = F.relu(F.conv2d(y, conv.conv.weight, conv.conv.bias, padding=1))
    pooled = torch.cat([y.mean(dim=1, keepdim=True), y.max(dim=1, keepdim=True).values], dim=1)
    y = y * torch.sigmoid(F.conv2d(pooled, head.spatial_attention.conv.weight, padding=1))
    y = F.relu(F.conv_transpose2d(y, head.upsample.weight, head.upsample.bias, stride=2))
    expected = F.conv2d(y, head.conv_logits.weight, head.conv_logits.bias)
    torch.testing.assert_close(head(x), expected)


def test_init_weights_like_centermask2():
    torch.manual_seed(0)
    head = SAGMaskHead()
    head.init_weights()
    std = head.conv_logits.weight.std().item()
    assert 0.0009 < std < 0.0011  # normal(std=0.001); mmdet's Kaiming would give about 0.088
    assert head.conv_logits.bias.abs().sum() == 0
    assert head.upsample.bias.abs().sum() == 0
    assert all(conv.conv.bias.abs().sum() == 0 for conv in head.convs)
    # Kaiming normal fan_out on 18 weights has std sqrt(2 / 9); PyTorch's default init bounds
    # them by 1 / sqrt(18).
    assert head.spatial_attention.conv.weight.abs().max() > 1 / 18**0.5


def sampling_results_and_gts(num_items, num_classes, polygons=False):
    image_shapes = [(3, 64, 80)]
    data_samples = demo_mm_inputs(
        batch_size=1, image_shapes=image_shapes, num_items=[num_items], num_classes=num_classes,
        with_mask=True)['data_samples']
    batch_gt_instances, batch_gt_instances_ignore, _ = unpack_gt_instances(data_samples)
    if num_items:
        # Rectangle masks filling each GT box, as bitmaps or polygons.
        gt = batch_gt_instances[0]
        boxes = gt.bboxes.numpy()
        if polygons:
            gt.masks = PolygonMasks(
                [[np.array([x1, y1, x2, y1, x2, y2, x1, y2])] for x1, y1, x2, y2 in boxes],
                64, 80)
        else:
            bitmaps = np.zeros((len(boxes), 64, 80), dtype=np.uint8)
            for bitmap, (x1, y1, x2, y2) in zip(bitmaps, boxes.round().astype(int)):
                bitmap[y1:y2, x1:x2] = 1
            gt.masks = BitmapMasks(bitmaps, 64, 80)
    proposals = demo_mm_proposals(image_shapes=image_shapes, num_proposals=50)
    sampling_results = demo_mm_sampling_results(
        proposals_list=proposals, batch_gt_instances=batch_gt_instances,
        batch_gt_instances_ignore=batch_gt_instances_ignore)
    return sampling_results, batch_gt_instances


@pytest.mark.parametrize('polygons', [False, True])
def test_loss_non_empty_gt(polygons):
    torch.manual_seed(0)
    num_classes = 4
    head = SAGMaskHead(num_convs=1, in_channels=8, conv_out_channels=8, num_classes=num_classes)
    sampling_results, batch_gt_instances = sampling_results_and_gts(3, num_classes, polygons)
    num_pos = sum(len(res.pos_priors) for res in sampling_results)
    assert num_pos > 0
    mask_preds = head(torch.randn(num_pos, 8, 14, 14))
    result = head.loss_and_target(mask_preds, sampling_results, batch_gt_instances,
                                  ConfigDict(mask_size=28))
    loss = result['loss_mask']['loss_mask']
    targets = result['mask_targets']
    assert targets.shape == (num_pos, 28, 28)
    assert targets.sum() > 0
    labels = torch.cat([res.pos_gt_labels for res in sampling_results])
    expected = F.binary_cross_entropy_with_logits(mask_preds[torch.arange(num_pos), labels],
                                                  targets)
    assert torch.isfinite(loss) and loss > 0
    torch.testing.assert_close(loss.squeeze(), expected)  # mmdet's mask BCE has shape (1, )
    loss.backward()
    assert head.spatial_attention.conv.weight.grad.abs().sum() > 0


def test_loss_empty_gt():
    head = SAGMaskHead(num_convs=1, in_channels=8, conv_out_channels=8, num_classes=4)
    sampling_results, batch_gt_instances = sampling_results_and_gts(0, 4)
    assert sum(len(res.pos_priors) for res in sampling_results) == 0
    mask_preds = head(torch.randn(0, 8, 14, 14))
    loss = head.loss_and_target(mask_preds, sampling_results, batch_gt_instances,
                                ConfigDict(mask_size=28))['loss_mask']['loss_mask']
    assert loss.item() == 0
    assert loss.requires_grad
    loss.backward()
    assert head.conv_logits.weight.grad is not None


def test_predict_by_feat_pastes_predicted_class_box():
    num_classes = 3
    head = SAGMaskHead(num_convs=1, in_channels=8, conv_out_channels=8, num_classes=num_classes)
    img_meta = dict(img_shape=(96, 128), ori_shape=(48, 64), scale_factor=(2.0, 2.0))
    results = InstanceData(metainfo=img_meta)
    results.bboxes = torch.tensor([[16.0, 16.0, 80.0, 64.0], [0.0, 0.0, 40.0, 20.0]])
    results.labels = torch.tensor([2, 0])
    # Logits +10 on the predicted class channel, -10 elsewhere: the mask is exactly the box.
    mask_preds = torch.full((2, num_classes, 28, 28), -10.0)
    mask_preds[0, 2] = 10.0
    mask_preds[1, 0] = 10.0
    test_cfg = ConfigDict(mask_thr_binary=0.5)

    masks = head.predict_by_feat((mask_preds, ), [results.clone()], [img_meta], test_cfg,
                                 rescale=False)[0].masks
    assert masks.dtype == torch.bool
    assert masks.shape == (2, 96, 128)
    expected = torch.zeros(2, 96, 128, dtype=torch.bool)
    expected[0, 16:64, 16:80] = True
    expected[1, 0:20, 0:40] = True
    assert torch.equal(masks, expected)

    masks = head.predict_by_feat((mask_preds, ), [results.clone()], [img_meta], test_cfg,
                                 rescale=True)[0].masks
    assert masks.shape == (2, 48, 64)
    assert torch.equal(masks, expected[:, ::2, ::2])


def test_predict_by_feat_no_rois():
    head = SAGMaskHead(num_convs=1, in_channels=8, conv_out_channels=8, num_classes=3)
    img_meta = dict(img_shape=(96, 128), ori_shape=(48, 64), scale_factor=(2.0, 2.0))
    results = InstanceData(metainfo=img_meta)
    results.bboxes = torch.zeros(0, 4)
    results.labels = torch.zeros(0, dtype=torch.long)
    mask_preds = head(torch.randn(0, 8, 14, 14))
    masks = head.predict_by_feat((mask_preds, ), [results], [img_meta],
                                 ConfigDict(mask_thr_binary=0.5), rescale=True)[0].masks
    assert masks.shape == (0, 48, 64)


@pytest.mark.parametrize('polygons', [True, False])
def test_targets_of_a_roi_crossing_the_border_are_cut_from_the_unclipped_roi(polygons):
    """A 20 x 20 square GT at the left border and a RoI x in [-20, 20]: the RoI is pooled unclipped
    (centermask2), so its target has the square in its right half. mmdet's mask_target clips the
    RoI to x in [0, 20] first and would supervise the left half with the square as well."""
    square = np.array([0., 0., 20., 0., 20., 20., 0., 20.])
    masks = PolygonMasks([[square]], 40, 40)
    if not polygons:
        masks = BitmapMasks(masks.to_ndarray(), 40, 40)
    res = InstanceData(pos_priors=torch.tensor([[-20., 0., 20., 20.]]),
                       pos_assigned_gt_inds=torch.tensor([0]))
    head = SAGMaskHead(num_convs=1, in_channels=8, conv_out_channels=8, num_classes=1)
    targets = head.get_targets([res], [InstanceData(masks=masks)], ConfigDict(mask_size=28))
    if polygons:  # x * 28 / 40 + 14: the square covers columns 14..27
        expected = torch.zeros(1, 28, 28)
        expected[0, :, 14:] = 1
        assert torch.equal(targets, expected)
    else:  # RoIAlign (aligned) reads the mask's edge pixels half a pixel beyond it
        assert targets[0, :, :13].sum() == 0 and targets[0, :27, 14:].all()
    clipped = FCNMaskHead.get_targets(head, [res], [InstanceData(masks=masks)],
                                      ConfigDict(mask_size=28))
    assert clipped.sum() == 28 * 28
