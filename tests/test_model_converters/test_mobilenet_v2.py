"""``tools/model_converters/mobilenet_v2_to_mmdet.py``: centermask2's ImageNet MobileNetV2 file,
which also holds the 1280-channel conv and the classifier that the tool must account for (dropped,
named) rather than refuse."""
from pathlib import Path

import torch

from mmdet.registry import MODELS
from mmdet_centermask.testing import build_model, load_config, load_tool
from mmdet_centermask.testing.centermask2_layout import BOTTOM_UP, random_values, to_centermask2

LITE_MV2_CONFIG = 'centermask/centermask-lite_mv2_fpn_ms-4x_coco.py'


def imagenet_mobilenet_v2(seed: int):
    """The Lite-Mv2 backbone's random state and the same tensors under centermask2's ImageNet
    MobileNetV2 names (``features.{i}...``, no prefix)."""
    state = random_values(build_model(LITE_MV2_CONFIG).backbone.state_dict(), seed=seed)
    source = to_centermask2({f'backbone.{key}': value for key, value in state.items()})
    return state, {key.removeprefix(BOTTOM_UP): value for key, value in source.items()
                   if key.startswith(BOTTOM_UP)}


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

    cfg = load_config(LITE_MV2_CONFIG, without_pretrained=False)
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
