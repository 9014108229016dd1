"""``convert_vovnet`` and ``tools/model_converters/vovnet_to_mmdet.py``: detectron2's and timm's
ImageNet VoVNet checkpoints to mmdet backbones, compared with functional forwards of the source
networks written from the source state dicts (``mmdet_centermask.testing.reference_backbones``)."""
from pathlib import Path
from typing import Dict

import pytest
import torch
from torch import Tensor

from mmdet_centermask.model_converters import (ConversionError, convert_vovnet,
                                               load_source_state_dict)
from mmdet_centermask.models import VoVNet
from mmdet_centermask.testing import assign_weights, load_tool
from mmdet_centermask.testing.centermask2_layout import BOTTOM_UP, random_values, vovnet_unit_child
from mmdet_centermask.testing.reference_backbones import (Centermask2Names, TimmNames,
                                                          assert_equal, reference_vovnet)
from mmdet_centermask.testing.timm_layout import TIMM_SPECS, timm_state_dict

IMAGE_SIZE = (67, 93)  # odd sizes exercise the ceil-mode pooling
SMALL_IMAGE_SIZE = (35, 45)  # for the deep archs, to save time


def load_backbone(arch: str, state_dict: Dict[str, Tensor]) -> VoVNet:
    with torch.device('meta'):
        backbone = VoVNet(arch).eval()
    return assign_weights(backbone, state_dict)


@pytest.mark.parametrize('arch', list(TIMM_SPECS))
def test_timm_vovnet_equals_source_network(arch: str) -> None:
    source = timm_state_dict(arch, seed=3)
    conversion = convert_vovnet(source)
    assert conversion.complete, conversion.problems()
    assert conversion.meta['backbone'] == dict(type='VoVNet', arch=arch, with_ese=True,
                                               with_identity=True)
    assert conversion.meta['input'] == dict(channel_order='RGB', mean=[123.675, 116.28, 103.53],
                                            std=[58.395, 57.12, 57.375])
    assert conversion.meta['data_preprocessor']['bgr_to_rgb'] is True
    assert 'dropped head.fc.weight: ImageNet classifier' in conversion.notes
    if arch == 'V-39':
        assert sorted(key[:-len('.attn.fc.weight')] for key in source
                      if key.endswith('attn.fc.weight')) == [
                          'stages.0.blocks.0', 'stages.1.blocks.0', 'stages.2.blocks.1',
                          'stages.3.blocks.1'
                      ]
    blocks = sum(TIMM_SPECS[arch][4])
    filled = [key for key in conversion.state_dict if key.endswith('ese.fc.bias')
              and torch.equal(conversion.state_dict[key], torch.full_like(
                  conversion.state_dict[key], 3.0))]
    assert len(filled) == blocks - 4  # timm has an eSE in the last block of each stage only
    x = torch.randn(1, 3, *(SMALL_IMAGE_SIZE if arch in ('V-57', 'V-99') else IMAGE_SIZE))
    with torch.no_grad():
        outs = load_backbone(arch, conversion.state_dict)(x)
        refs = reference_vovnet(source, TimmNames(), x)
    assert_equal(list(outs), refs)


def test_detectron2_imagenet_vovnet_equals_source_network() -> None:
    with torch.device('meta'):
        backbone = VoVNet('V-39')
    backbone_state = random_values(backbone.state_dict(), seed=4)
    source = {
        f'{BOTTOM_UP}{vovnet_unit_child(key)}': value
        for key, value in backbone_state.items() if not key.endswith('num_batches_tracked')
    }
    conversion = convert_vovnet(source)
    assert conversion.complete, conversion.problems()
    assert conversion.meta['source'] == 'detectron2'
    assert conversion.meta['backbone']['arch'] == 'V-39'
    assert conversion.meta['input']['channel_order'] == 'BGR'
    x = torch.randn(1, 3, *IMAGE_SIZE)
    with torch.no_grad():
        outs = load_backbone('V-39', conversion.state_dict)(x)
        refs = reference_vovnet(source, Centermask2Names(BOTTOM_UP), x)
    assert_equal(list(outs), refs)


def test_vovnet_arch_the_keys_cannot_tell_needs_arch() -> None:
    source = {key: value for key, value in timm_state_dict('V-39', seed=5).items()
              if not key.startswith(('stages.3.', 'head.'))}
    with pytest.raises(ConversionError, match=r"fit the VoVNet archs \['V-39', 'V-57', 'V-99'\]"
                       r'.*pass --arch'):
        convert_vovnet(source)
    conversion = convert_vovnet(source, arch='V-39')
    assert conversion.meta['backbone']['arch'] == 'V-39'
    assert conversion.missing and all(key.startswith('stage5.') for key in conversion.missing)
    with pytest.raises(ConversionError, match='stage5.OSA5_1.layers.0.OSA5_1_0_conv.weight'):
        conversion.checked_state_dict()
    with pytest.raises(ConversionError, match='neither'):
        convert_vovnet({'conv1.weight': torch.zeros(1)})


def test_vovnet_cli_output_loads_as_pretrained_backbone(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    src, dst = tmp_path / 'ese_vovnet19b_slim_dw.pth', tmp_path / 'vovnet19_slim_dw_mmdet.pth'
    torch.save(timm_state_dict('V-19-slim-dw', seed=6), src)
    assert load_tool('vovnet_to_mmdet').main([str(src), str(dst)]) == 0
    printed = capsys.readouterr().out
    assert 'the weights expect RGB input normalised with mean [123.675, 116.28, 103.53]' in printed
    assert 'bgr_to_rgb=True' in printed
    checkpoint = torch.load(dst)
    assert checkpoint['meta']['backbone']['arch'] == 'V-19-slim-dw'
    assert not any(key.startswith('backbone.') for key in checkpoint['state_dict'])
    assert load_source_state_dict(str(dst)).keys() == checkpoint['state_dict'].keys()
    backbone = VoVNet('V-19-slim-dw', init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    backbone.init_weights()
    loaded = backbone.state_dict()
    assert loaded.keys() == checkpoint['state_dict'].keys()
    for key, value in checkpoint['state_dict'].items():
        assert torch.equal(loaded[key], value), key
