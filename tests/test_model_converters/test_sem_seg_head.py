"""centermask2 Panoptic-CenterMask checkpoints (made here from our model through the inverse name
map: FPN laterals from P2, ``sem_seg_head.p{l}.{2k}`` convs between detectron2's Upsample layers,
the things channel first in the predictor) convert with every key accounted for, load without
missing or unexpected keys, and the converted semantic head computes detectron2's SemSegFPNHead
formula (written from the source tensors with ``torch.nn.functional``)."""

import pytest
import torch
from mmdet_centermask.testing.centermask2_layout import SEM_SEG, detectron2_sem_seg_logits, random_values, to_centermask2
from mmdet_centermask.testing import load_config

from mmdet.registry import MODELS
from mmdet_centermask.model_converters import convert_centermask2

CONFIG = 'panoptic_centermask/demo/panoptic-centermask-lite_v2-19-slim-dw_fpn_demo.py'


@pytest.fixture(scope='module')
def panoptic() -> dict:
    cfg = load_config(CONFIG)
    model = MODELS.build(cfg.model)
    state = random_values(model.state_dict(), seed=0)
    source = to_centermask2(state, lowest_fpn_level=2)
    return dict(cfg=cfg, model=model, state=state, source=source,
                conversion=convert_centermask2(source))


def test_every_key_is_mapped_and_the_parts_are_inferred(panoptic):
    conversion, state, source = panoptic['conversion'], panoptic['state'], panoptic['source']
    assert conversion.complete, conversion.problems()
    assert any(key.startswith(f'{SEM_SEG}p5.4.') for key in source)  # 3 convs at P5
    assert set(conversion.state_dict) == set(state)
    for key, value in state.items():
        assert torch.equal(conversion.state_dict[key], value), key
    parts = conversion.meta['model_parts']
    assert parts['semantic_head'] == dict(
        type='SemSegFPNHead', num_things_classes=5, num_stuff_classes=3, in_channels=128,
        inner_channels=128, start_level=0, end_level=4,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True))
    assert parts['neck']['in_channels'] == [112, 256, 384, 512]
    assert parts['neck']['num_outs'] == 6
    assert parts['bbox_head']['strides'] == [8, 16, 32, 64, 128]  # P3-P7, not P2
    assert any('things channel moved' in note for note in conversion.notes)


def test_loads_into_the_config_model_without_missing_or_unexpected_keys(panoptic):
    conversion = convert_centermask2(panoptic['source'], panoptic['cfg'])
    assert conversion.complete, conversion.problems()
    model = MODELS.build(panoptic['cfg'].model)
    result = model.load_state_dict(conversion.checked_state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_semantic_head_computes_detectron2s_formula(panoptic):
    model = panoptic['model']
    model.load_state_dict(panoptic['conversion'].checked_state_dict())
    generator = torch.Generator().manual_seed(3)
    feats = [torch.randn(1, 128, 24 // 2**i, 32 // 2**i, generator=generator) for i in range(4)]
    with torch.no_grad():
        ours = model.semantic_head(feats)['seg_preds']
        reference = detectron2_sem_seg_logits(panoptic['source'], feats)
    assert reference.abs().max() > 0
    # detectron2's things channel is the first, ours the last
    torch.testing.assert_close(ours, torch.cat([reference[:, 1:], reference[:, :1]], 1),
                               rtol=1e-5, atol=1e-5)


def test_r50_panoptic_checkpoint_layout_converts_completely():
    """The layout of centermask2's released panoptic_centermask_R_50_ms_3x.pth: detectron2's
    ResNet-50 with FPN laterals from res2, 80 thing and 53 stuff classes."""
    cfg = load_config('panoptic_centermask/panoptic-centermask_r50_fpn_ms-3x_coco.py')
    state = random_values(MODELS.build(cfg.model).state_dict(), seed=1)
    source = to_centermask2(state, lowest_fpn_level=2)
    assert 'backbone.fpn_lateral2.weight' in source and 'backbone.top_block.p7.weight' in source
    assert source[f'{SEM_SEG}predictor.weight'].shape[0] == 54
    conversion = convert_centermask2(source)
    assert conversion.complete, conversion.problems()
    assert set(conversion.state_dict) == set(state)
    parts = conversion.meta['model_parts']
    assert parts['backbone'] == dict(type='ResNet', depth=50, style='caffe')
    assert (parts['semantic_head']['num_things_classes'],
            parts['semantic_head']['num_stuff_classes']) == (80, 53)
    assert torch.equal(conversion.state_dict['semantic_head.conv_logits.weight'][-1],
                       source[f'{SEM_SEG}predictor.weight'][0])  # the things channel
