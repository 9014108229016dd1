"""SemSegFPNHead: detectron2's SemSegFPNHead loss (at full resolution, void ignored in the mean),
void-only images, labels beyond the head, and the predictor init."""

import pytest
import torch
import torch.nn.functional as F
from mmdet_centermask.testing.centermask2_layout import detectron2_sem_seg_logits, to_centermask2
from mmengine.structures import PixelData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet_centermask.models.seg_heads import SemSegFPNHead

NUM_THINGS, NUM_STUFF = 3, 4
IMAGE = (64, 96)


def make_head() -> SemSegFPNHead:
    torch.manual_seed(0)
    head = MODELS.build(dict(type='SemSegFPNHead', num_things_classes=NUM_THINGS,
                             num_stuff_classes=NUM_STUFF, in_channels=64, inner_channels=32))
    head.init_weights()
    for name, param in head.named_parameters():  # GN affine and biases away from 1 / 0
        if param.dim() == 1:
            param.data.uniform_(0.5, 1.5) if 'gn.weight' in name else param.data.uniform_(-.2, .2)
    return head


def feats() -> list:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(2, 64, IMAGE[0] // 2**s, IMAGE[1] // 2**s, generator=generator)
            for s in range(2, 6)]


def samples(labels: torch.Tensor) -> list:
    return [DetDataSample(gt_sem_seg=PixelData(sem_seg=label[None])) for label in labels]


def random_labels() -> torch.Tensor:
    generator = torch.Generator().manual_seed(2)
    labels = torch.randint(0, NUM_THINGS + NUM_STUFF, (2, *IMAGE), generator=generator)
    labels[0, :20, :30] = 255
    labels[1, 50:] = 255
    return labels


def test_loss_is_detectron2s_cross_entropy_at_full_resolution():
    head, x, labels = make_head(), feats(), random_labels()
    source = to_centermask2({f'semantic_head.{k}': v for k, v in head.state_dict().items()})
    # detectron2's panoptic_separated labels: every thing -> 0, stuff s -> s + 1, void 255
    d2_labels = torch.where(labels < NUM_THINGS, 0, labels - NUM_THINGS + 1)
    d2_labels[labels == 255] = 255
    logits = F.interpolate(detectron2_sem_seg_logits(source, x), scale_factor=4,
                           mode='bilinear', align_corners=False)
    expected = 0.5 * F.cross_entropy(logits, d2_labels, ignore_index=255)
    loss = head.loss(x, samples(labels))['loss_seg']
    assert expected > 0
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


def test_void_only_images_give_zero_loss_and_gradient():
    """detectron2's mean over no pixel is NaN; here the loss is 0 and training goes on."""
    head, x = make_head(), feats()
    loss = head.loss(x, samples(torch.full((2, *IMAGE), 255)))['loss_seg']
    loss.backward()
    assert loss.item() == 0
    assert all(p.grad is None or not p.grad.any() for p in head.parameters())


def test_labels_beyond_the_head_are_named():
    labels = random_labels()
    labels[0, 0, 0] = NUM_THINGS + NUM_STUFF  # a dataset with one more stuff class
    with pytest.raises(ValueError, match=r'gt_sem_seg holds labels \[7\], but semantic_head has '
                                         r'num_things_classes=3 \+ num_stuff_classes=4 = 7'):
        make_head().loss(feats(), samples(labels))


def test_predictor_init_is_msra_fill():
    head = SemSegFPNHead(num_things_classes=80, num_stuff_classes=53)
    head.init_weights()
    weight = head.conv_logits.weight
    fan_out = weight.shape[0]  # 1x1 kernel
    assert weight.std().item() == pytest.approx((2 / fan_out)**0.5, rel=0.05)
    assert not head.conv_logits.bias.any()
