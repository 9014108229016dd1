"""``CenterMaskMobileNetV2``: mmdet's MobileNetV2 built only up to its last output (centermask2's
has no 1280-channel conv), with its output channels known for the FPN check."""
import pytest
import torch

from mmdet.models.backbones import MobileNetV2
from mmdet_centermask.models import CenterMaskMobileNetV2


def test_builds_no_layer_after_its_last_output_and_names_its_channels():
    backbone = CenterMaskMobileNetV2(out_indices=(2, 4, 6))
    assert not hasattr(backbone, 'conv2') and backbone.layers[-1] == 'layer7'
    full = MobileNetV2(out_indices=(2, 4, 6))
    # the same layers and parameters, less the 1280-channel conv
    assert sum(p.numel() for p in full.parameters()) - sum(
        p.numel() for p in backbone.parameters()) == sum(p.numel() for p in full.conv2.parameters())
    outs = backbone(torch.randn(1, 3, 64, 96))
    assert [o.shape[1] for o in outs] == backbone.out_channels == [32, 96, 320]
    assert [o.shape[2:] for o in outs] == [(8, 12), (4, 6), (2, 3)]  # strides 8, 16, 32
    shallow = CenterMaskMobileNetV2(out_indices=(1, 2))
    assert shallow.layers == ['layer1', 'layer2', 'layer3'] and shallow.out_channels == [24, 32]


def test_out_indices_beyond_the_layers_are_named():
    with pytest.raises(ValueError, match=r'out_indices=\(3, 7\): expected layer indices 0 to 6'):
        CenterMaskMobileNetV2(out_indices=(3, 7))
