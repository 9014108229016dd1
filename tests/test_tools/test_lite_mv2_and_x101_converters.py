"""Converters of the CenterMask-Lite MobileNetV2 and CenterMask X-101 models (centermask2
``centermask_lite_Mv2_FPN_ms_4x`` and ``centermask_X_101_FPN_ms_3x``).

The centermask2 checkpoints are made from the zoo models' state dicts with random values through
the inverse name map (``centermask2_layout``); the converted backbones must give exactly what
centermask2's own networks compute (``reference_backbones``, functional forwards written from
its source). The ImageNet MobileNetV2 file also holds the 1280-channel conv and the classifier,
which the tool must account for (dropped, named) rather than refuse."""
from pathlib import Path

import torch
from centermask2_layout import BOTTOM_UP, random_values, to_centermask2
from helpers import build_model, load, load_config, load_tool
from reference_backbones import assert_equal, reference_mobilenet_v2, reference_resnet

from mmdet.registry import MODELS
from mmdet_centermask.model_converters import convert_centermask2

LITE_MV2 = 'centermask/centermask-lite_mv2_fpn_ms-4x_coco.py'
X101 = 'centermask/centermask_x101-32x8d_fpn_ms-3x_coco.py'
IMAGE_SIZE = (67, 93)


def round_trip(config: str, seed: int):
    """The zoo model of ``config`` with random values, its centermask2 checkpoint, and the
    conversion of that checkpoint with the target inferred from its keys."""
    model = build_model(config)
    state = random_values(model.state_dict(), seed=seed)
    source = to_centermask2(state)
    conversion = convert_centermask2(source)
    assert conversion.complete, conversion.problems()
    assert set(conversion.state_dict) == set(state)
    for key, value in state.items():
        assert torch.equal(conversion.state_dict[key], value), key
    return load(model, conversion.checked_state_dict()), source, conversion


def imagenet_mobilenet_v2(seed: int):
    """The Lite-Mv2 backbone's random state and the same tensors under centermask2's ImageNet
    MobileNetV2 names (``features.{i}...``, no prefix)."""
    state = random_values(build_model(LITE_MV2).backbone.state_dict(), seed=seed)
    source = to_centermask2({f'backbone.{key}': value for key, value in state.items()})
    return state, {key.removeprefix(BOTTOM_UP): value for key, value in source.items()
                   if key.startswith(BOTTOM_UP)}


def test_lite_mv2_round_trip_and_backbone_equals_centermask2_network():
    model, source, conversion = round_trip(LITE_MV2, seed=3)
    assert f'{BOTTOM_UP}features.17.conv.7.running_var' in source
    assert f'{BOTTOM_UP}features.1.conv.4.weight' in source  # expand ratio 1: 2 units
    parts = conversion.meta['model_parts']
    assert parts['backbone'] == dict(type='CenterMaskMobileNetV2', out_indices=(2, 4, 6))
    assert parts['neck']['in_channels'] == [32, 96, 320]
    assert parts['neck']['out_channels'] == 128 and parts['bbox_head']['stacked_convs'] == 2
    x = torch.randn(1, 3, *IMAGE_SIZE)
    with torch.no_grad():
        outs = model.backbone(x)
        refs = reference_mobilenet_v2(source, x)
    assert_equal(list(outs), refs[1:])  # the FPN takes res3-res5


def test_x101_round_trip_and_backbone_equals_centermask2_network():
    model, source, conversion = round_trip(X101, seed=4)
    assert source[f'{BOTTOM_UP}res2.0.conv2.weight'].shape == (256, 8, 3, 3)  # 32 groups x 8
    assert conversion.meta['model_parts']['backbone'] == dict(
        type='ResNeXt', depth=101, groups=32, base_width=8, style='pytorch')
    assert any('ResNeXt: style="pytorch"' in note for note in conversion.notes)
    x = torch.randn(1, 3, 35, 45)
    with torch.no_grad():
        outs = model.backbone(x)
        refs = reference_resnet(source, x, stride_in_1x1=False)
    assert_equal(list(outs), refs[1:])


def test_mobilenet_v2_imagenet_file_converts_and_loads_as_pretrained(tmp_path: Path):
    state, imagenet = imagenet_mobilenet_v2(seed=5)
    imagenet.update({  # what centermask2's detector does not build
        'features.18.0.weight': torch.randn(1280, 320, 1, 1),
        'features.18.1.weight': torch.ones(1280), 'features.18.1.bias': torch.zeros(1280),
        'features.18.1.running_mean': torch.zeros(1280),
        'features.18.1.running_var': torch.ones(1280),
        'classifier.1.weight': torch.randn(1000, 1280), 'classifier.1.bias': torch.zeros(1000)})
    src, dst = tmp_path / 'mobilenet_v2_detectron2.pth', tmp_path / 'mv2_mmdet.pth'
    torch.save(imagenet, src)
    assert load_tool('mobilenet_v2_to_mmdet').main([str(src), str(dst)]) == 0
    checkpoint = torch.load(dst, map_location='cpu')
    assert checkpoint['meta']['input']['channel_order'] == 'BGR'
    assert set(checkpoint['state_dict']) == set(state)

    cfg = load_config(LITE_MV2, without_pretrained=False)
    cfg.model.backbone.init_cfg.checkpoint = str(dst)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for key, value in state.items():
        if not key.endswith('num_batches_tracked'):
            assert torch.equal(model.backbone.state_dict()[key], value), key


def test_mobilenet_v2_imagenet_conversion_names_what_it_drops():
    from mmdet_centermask.model_converters import convert_mobilenet_v2

    _, source = imagenet_mobilenet_v2(seed=6)
    source['classifier.1.weight'] = torch.randn(1000, 1280)
    conversion = convert_mobilenet_v2(source)
    assert conversion.complete, conversion.problems()
    assert any('dropped classifier.1.weight: ImageNet classifier' in n for n in conversion.notes)
    del source['features.5.conv.3.weight']
    conversion = convert_mobilenet_v2(source)
    assert conversion.missing == ['layer3.1.depthwise_conv.conv.weight']
