"""``convert_centermask2`` and ``tools/model_converters/centermask2_to_mmdet.py``: centermask2
checkpoints (VoVNet, DCN, ResNet, ResNeXt and MobileNetV2 backbones, FPN, FCOS, SAG-Mask,
MaskIoU) to mmdet ones.

The source checkpoints are made from our own models' state dicts with random values through the
inverse name map (``mmdet_centermask.testing.centermask2_layout``), with centermask2's quirks (FCOS
scales of shape [1], FrozenBN without ``num_batches_tracked``, DCN offset convs beside the conv,
``pixel_mean``/``pixel_std``). The converted models are compared with functional forwards of the
source networks (``mmdet_centermask.testing.reference_backbones``: ``torch.nn.functional`` only).
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from mmdet_centermask.model_converters import ConversionError, convert_centermask2
from mmdet_centermask.testing import REPO_ROOT, assign_weights, build_model, load_config, load_tool
from mmdet_centermask.testing.centermask2_layout import (BOTTOM_UP, DETECTRON2_MEAN, FCOS, MASK,
                                                         MASKIOU, random_values, to_centermask2)
from mmdet_centermask.testing.reference_backbones import (Centermask2Names, assert_equal,
                                                          reference_mobilenet_v2,
                                                          reference_resnet, reference_vovnet)

TOOLS = REPO_ROOT / 'tools' / 'model_converters'
LITE_DW_CONFIG = 'centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'
LITE_MV2_CONFIG = 'centermask/centermask-lite_mv2_fpn_ms-4x_coco.py'
DCN_CONFIG = 'centermask/centermask_v2-39-dcn_fpn_ms-3x_coco.py'
R50_CONFIG = 'centermask/centermask_r50_fpn_ms-3x_coco.py'
X101_CONFIG = 'centermask/centermask_x101-32x8d_fpn_ms-3x_coco.py'
IMAGE_SIZE = (67, 93)  # odd sizes exercise the ceil-mode pooling


@pytest.fixture(scope='module')
def lite() -> dict:
    """A CenterMask-Lite V-19-slim-dw: its random state, the centermask2 checkpoint made from it,
    the conversion of that checkpoint (target inferred) and a model holding the result."""
    model = build_model(LITE_DW_CONFIG)
    state = random_values(model.state_dict(), seed=0)
    source = to_centermask2(state)
    conversion = convert_centermask2(source)
    assign_weights(model, conversion.checked_state_dict())
    return dict(state=state, source=source, conversion=conversion, model=model)


def test_centermask2_lite_dw_round_trip(lite: dict) -> None:
    conversion, state, source = lite['conversion'], lite['state'], lite['source']
    assert conversion.complete, conversion.problems()
    assert set(conversion.state_dict) == set(state)
    for key, value in state.items():
        assert torch.equal(conversion.state_dict[key], value), key
    assert conversion.state_dict['bbox_head.scales.0.scale'].shape == ()
    parts = conversion.meta['model_parts']
    assert parts['backbone'] == dict(type='VoVNet', arch='V-19-slim-dw', with_ese=True,
                                     with_identity=True)
    assert parts['neck']['out_channels'] == 128 and parts['neck']['num_outs'] == 5
    assert parts['bbox_head']['stacked_convs'] == 2
    assert parts['roi_head.mask_head']['num_convs'] == 2
    assert parts['roi_head.mask_iou_head']['num_convs'] == 2
    assert parts['roi_head.mask_iou_head']['roi_feat_size'] == 14
    assert conversion.meta['input'] == dict(channel_order='BGR', mean=DETECTRON2_MEAN,
                                            std=[1.0, 1.0, 1.0])
    assert any('dropped pixel_mean' in note for note in conversion.notes)
    assert len(source) == len(state) - sum(k.endswith('tracked') for k in state) + 2


def test_centermask2_lite_backbone_equals_source_network(lite: dict) -> None:
    x = torch.randn(1, 3, *IMAGE_SIZE)
    with torch.no_grad():
        outs = lite['model'].backbone(x)
        refs = reference_vovnet(lite['source'], Centermask2Names(BOTTOM_UP), x)
    assert_equal(list(outs), refs[1:])


def test_fpn_matches_detectron2_fpn(lite: dict) -> None:
    sd, neck = lite['source'], lite['model'].neck
    feats = [torch.randn(1, c, 16 // 2**i, 24 // 2**i) for i, c in enumerate((256, 384, 512))]

    def conv(name: str, x: Tensor, stride: int = 1) -> Tensor:
        weight = sd[f'backbone.{name}.weight']
        return F.conv2d(x, weight, sd[f'backbone.{name}.bias'], stride, weight.shape[-1] // 2)

    prev = conv('fpn_lateral5', feats[2])
    refs = [conv('fpn_output5', prev)]
    for level, feat in ((4, feats[1]), (3, feats[0])):
        prev = conv(f'fpn_lateral{level}', feat) + F.interpolate(prev, scale_factor=2.0)
        refs.insert(0, conv(f'fpn_output{level}', prev))
    p6 = conv('top_block.p6', refs[-1], stride=2)
    refs += [p6, conv('top_block.p7', F.relu(p6), stride=2)]
    with torch.no_grad():
        assert_equal(list(neck(feats)), refs)


def test_fcos_head_matches_source_formula(lite: dict) -> None:
    sd, head = lite['source'], lite['model'].bbox_head
    feats = [torch.randn(1, 128, max(16 // 2**i, 3), max(24 // 2**i, 3)) for i in range(5)]

    def conv(name: str, x: Tensor) -> Tensor:
        return F.conv2d(x, sd[f'{FCOS}{name}.weight'], sd[f'{FCOS}{name}.bias'], padding=1)

    def tower(name: str, x: Tensor) -> Tensor:
        for i in (0, 3):  # conv, GroupNorm(32), ReLU
            x = F.group_norm(conv(f'{name}.{i}', x), 32, sd[f'{FCOS}{name}.{i + 1}.weight'],
                             sd[f'{FCOS}{name}.{i + 1}.bias'])
            x = F.relu(x)
        return x

    with torch.no_grad():
        head.train()
        cls_scores, bbox_preds, centernesses = head(feats)
        head.eval()
        _, bbox_preds_eval, _ = head(feats)
    for level, feat in enumerate(feats):
        cls_feat, reg_feat = tower('cls_tower', feat), tower('bbox_tower', feat)
        # centermask2: reg = relu(scale * bbox_pred), in units of the stride while training
        reg = F.relu(sd[f'{FCOS}scales.{level}.scale'] * conv('bbox_pred', reg_feat))
        assert_equal([cls_scores[level], bbox_preds[level], centernesses[level]],
                     [conv('cls_logits', cls_feat), reg, conv('ctrness', reg_feat)])
        assert_equal([bbox_preds_eval[level]], [reg * 2**(level + 3)])


def test_sag_mask_head_matches_source_formula(lite: dict) -> None:
    sd, head = lite['source'], lite['model'].roi_head.mask_head
    x = torch.randn(3, 128, 14, 14)
    ref = x
    for k in (1, 2):
        ref = F.relu(F.conv2d(ref, sd[f'{MASK}mask_fcn{k}.weight'], sd[f'{MASK}mask_fcn{k}.bias'],
                              padding=1))
    pooled = torch.cat([ref.mean(1, keepdim=True), ref.max(1, keepdim=True)[0]], 1)
    ref = ref * torch.sigmoid(F.conv2d(pooled, sd[f'{MASK}spatialAtt.conv.weight'], padding=1))
    ref = F.relu(F.conv_transpose2d(ref, sd[f'{MASK}deconv.weight'], sd[f'{MASK}deconv.bias'], 2))
    ref = F.conv2d(ref, sd[f'{MASK}predictor.weight'], sd[f'{MASK}predictor.bias'])
    with torch.no_grad():
        assert_equal([head(x)], [ref])


def test_mask_iou_head_given_logits_equals_source_given_probabilities(lite: dict) -> None:
    sd, head = lite['source'], lite['model'].roi_head.mask_iou_head
    feats = torch.randn(3, 128, 14, 14)
    probs = torch.rand(3, 1, 28, 28) * 0.98 + 0.01
    # centermask2: cat(features, maxpool(probabilities)) -> convs (last stride 2) -> fcs
    x = torch.cat([feats, F.max_pool2d(probs, 2, 2)], 1)
    for k, stride in ((1, 1), (2, 2)):
        x = F.relu(F.conv2d(x, sd[f'{MASKIOU}maskiou_fcn{k}.weight'],
                            sd[f'{MASKIOU}maskiou_fcn{k}.bias'], stride, 1))
    x = x.flatten(1)
    for k in (1, 2):
        x = F.relu(F.linear(x, sd[f'{MASKIOU}maskiou_fc{k}.weight'],
                            sd[f'{MASKIOU}maskiou_fc{k}.bias']))
    ref = F.linear(x, sd[f'{MASKIOU}maskiou.weight'], sd[f'{MASKIOU}maskiou.bias'])
    with torch.no_grad():
        # mmdet's MaskIoUHead applies the sigmoid itself: it takes the logits
        torch.testing.assert_close(head(feats, torch.logit(probs[:, 0])), ref)
        assert not torch.allclose(head(feats, probs[:, 0]), ref, atol=1e-3)


def test_centermask2_dcn_backbone_equals_source_network() -> None:
    model = build_model(DCN_CONFIG)
    state = random_values(model.state_dict(), seed=1)
    source = to_centermask2(state)
    assert f'{BOTTOM_UP}stage3.OSA3_1.layers.0.OSA3_1_0/conv_offset.weight' in source
    conversion = convert_centermask2(source)
    assert conversion.complete, conversion.problems()
    backbone = conversion.meta['model_parts']['backbone']
    assert backbone['arch'] == 'V-39' and backbone['stage_with_dcn'] == [False, True, True, True]
    assign_weights(model, conversion.checked_state_dict())
    x = torch.randn(1, 3, *IMAGE_SIZE)
    with torch.no_grad():
        outs = model.backbone(x)
        refs = reference_vovnet(source, Centermask2Names(BOTTOM_UP), x)
    assert_equal(list(outs), refs[1:])


def test_centermask2_resnet_backbone_equals_source_network() -> None:
    model = build_model(R50_CONFIG)
    state = random_values(model.state_dict(), seed=2)
    source = to_centermask2(state)
    assert f'{BOTTOM_UP}res2.0.shortcut.norm.running_var' in source
    conversion = convert_centermask2(source)
    assert conversion.complete, conversion.problems()
    assert conversion.meta['model_parts']['backbone'] == dict(type='ResNet', depth=50,
                                                              style='caffe')
    assign_weights(model, conversion.checked_state_dict())
    x = torch.randn(1, 3, *IMAGE_SIZE)
    with torch.no_grad():
        outs = model.backbone(x)
        refs = reference_resnet(source, x)
    assert_equal(list(outs), refs[1:])


def test_centermask2_removed_key_is_refused_and_named(lite: dict, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    source = dict(lite['source'])
    del source[f'{MASK}mask_fcn2.bias']
    path = tmp_path / 'partial.pth'
    torch.save(dict(model=source), path)
    tool = load_tool('centermask2_to_mmdet')
    assert tool.main([str(path), str(tmp_path / 'out.pth')]) == 1
    error = capsys.readouterr().err
    assert 'target keys left unfilled (1):\n  roi_head.mask_head.convs.1.conv.bias' in error
    assert 'refusing to write a partial checkpoint' in error
    assert not (tmp_path / 'out.pth').exists()
    # asked for, the rest is written
    assert tool.main([str(path), str(tmp_path / 'out.pth'), '--allow-partial']) == 0
    state_dict = torch.load(tmp_path / 'out.pth')['state_dict']
    missing, unexpected = build_model(LITE_DW_CONFIG, 'cpu').load_state_dict(state_dict,
                                                                            strict=False)
    assert missing == ['roi_head.mask_head.convs.1.conv.bias'] and unexpected == []


def test_centermask2_unknown_keys_are_named(lite: dict) -> None:
    source = dict(lite['source'])
    source[f'{FCOS}share_tower.0.weight'] = torch.zeros(128, 128, 3, 3)
    source[f'{FCOS}scales.5.scale'] = torch.ones(1)
    # against a config: a key of no rule, and one whose target the model does not have
    conversion = convert_centermask2(source, load_config(LITE_DW_CONFIG))
    assert conversion.unmapped == [f'{FCOS}share_tower.0.weight']
    assert conversion.unexpected == [(f'{FCOS}scales.5.scale', 'bbox_head.scales.5.scale')]
    with pytest.raises(ConversionError, match='source keys that no rule maps \\(1\\):\n  '
                       'proposal_generator.fcos_head.share_tower.0.weight'):
        conversion.checked_state_dict()
    # inferring the target: a backbone key of no VoVNet arch
    source = dict(lite['source'])
    source[f'{BOTTOM_UP}stage5.OSA5_2.ese.fc.weight'] = torch.zeros(512, 512, 1, 1)
    with pytest.raises(ConversionError, match="fit no VoVNet arch.*'stage5.OSA5_2.ese.fc.weight'"
                       '.*pass --config'):
        convert_centermask2(source)


def test_centermask2_against_config_with_other_classes(lite: dict) -> None:
    cfg = load_config(LITE_DW_CONFIG)
    cfg.model.bbox_head.num_classes = 3
    cfg.model.roi_head.mask_head.num_classes = 3
    cfg.model.roi_head.mask_iou_head.num_classes = 3
    cfg.model.data_preprocessor.bgr_to_rgb = True
    conversion = convert_centermask2(lite['source'], cfg)
    assert [key for key, _, _ in conversion.mismatched] == [
        'bbox_head.conv_cls.weight', 'bbox_head.conv_cls.bias',
        'roi_head.mask_head.conv_logits.weight', 'roi_head.mask_head.conv_logits.bias',
        'roi_head.mask_iou_head.fc_mask_iou.weight', 'roi_head.mask_iou_head.fc_mask_iou.bias'
    ]
    assert not conversion.unmapped and not conversion.unexpected and not conversion.missing
    assert any(note.startswith("WARNING: the config's data_preprocessor") for note in
               conversion.notes)
    with pytest.raises(ConversionError, match='converted \\[80, 128, 3, 3\\], target'):
        conversion.checked_state_dict()
    # for fine-tuning: everything but the class-specific layers
    assert len(conversion.checked_state_dict(allow_partial=True)) == len(conversion.state_dict) - 6


@pytest.mark.e2e  # the converter tool in a subprocess
def test_centermask2_cli_end_to_end(lite: dict, tmp_path: Path) -> None:
    src, dst = tmp_path / 'centermask2-lite-V-19-slim-dw.pth', tmp_path / 'out' / 'converted.pth'
    torch.save(dict(model=lite['source'], iteration=359999), src)
    process = subprocess.run(
        [sys.executable, str(TOOLS / 'centermask2_to_mmdet.py'), str(src), str(dst)],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert process.returncode == 0, process.stdout + process.stderr
    assert 'the weights expect BGR input normalised with mean [103.53, 116.28, 123.675]' in (
        process.stdout)
    checkpoint = torch.load(dst)
    assert checkpoint['meta']['converted_from'] == src.name
    assert checkpoint['meta']['data_preprocessor'] == dict(mean=DETECTRON2_MEAN,
                                                           std=[1.0, 1.0, 1.0], bgr_to_rgb=False)
    model = build_model(LITE_DW_CONFIG, 'cpu')
    assert model.bbox_head.num_classes == 80
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, lite['state'][key]), key


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
    return assign_weights(model, conversion.checked_state_dict()), source, conversion


def test_lite_mv2_round_trip_and_backbone_equals_centermask2_network():
    model, source, conversion = round_trip(LITE_MV2_CONFIG, seed=3)
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
    model, source, conversion = round_trip(X101_CONFIG, seed=4)
    assert source[f'{BOTTOM_UP}res2.0.conv2.weight'].shape == (256, 8, 3, 3)  # 32 groups x 8
    assert conversion.meta['model_parts']['backbone'] == dict(
        type='ResNeXt', depth=101, groups=32, base_width=8, style='pytorch')
    assert any('ResNeXt: style="pytorch"' in note for note in conversion.notes)
    x = torch.randn(1, 3, 35, 45)
    with torch.no_grad():
        outs = model.backbone(x)
        refs = reference_resnet(source, x, stride_in_1x1=False)
    assert_equal(list(outs), refs[1:])
