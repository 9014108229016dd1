"""``tools/model_converters``: centermask2, detectron2 and timm checkpoints to mmdet ones.

The source checkpoints are made here, with the key names and shapes of those projects and random
values: the centermask2 layout from our own models' state dicts through the inverse name map,
plus its quirks (FCOS scales of shape [1], FrozenBN without ``num_batches_tracked``, DCN offset
convs beside the conv, ``pixel_mean``/``pixel_std``); the timm layout from timm's key patterns
(``stem.{i}``, ``stages.{s}.blocks.{b}.conv_mid.{k}``, eSE only in the last block of a stage).
The converted models are compared with functional forwards of the source networks written from
the source state dicts (``torch.nn.functional`` only, no VoVNet class).
"""
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch
import torch.nn.functional as F
from centermask2_layout import (BOTTOM_UP, DETECTRON2_MEAN, FCOS, MASK, MASKIOU, random_values,
                                to_centermask2, vovnet_unit_child)
from reference_backbones import assert_equal, batch_norm, reference_resnet
from helpers import build_model, load, load_config, load_tool
from mmcv.ops import modulated_deform_conv2d
from torch import Tensor

from mmdet_centermask.model_converters import (ConversionError, convert_centermask2,
                                               convert_vovnet, load_source_state_dict)
from mmdet_centermask.models import VoVNet

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools' / 'model_converters'
LITE_DW_CONFIG = 'centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'
DCN_CONFIG = 'centermask/centermask_v2-39-dcn_fpn_ms-3x_coco.py'
R50_CONFIG = 'centermask/centermask_r50_fpn_ms-3x_coco.py'
IMAGE_SIZE = (67, 93)  # odd sizes exercise the ceil-mode pooling
SMALL_IMAGE_SIZE = (35, 45)  # for the deep archs, to save time
# timm's ``model_cfgs``: stem channels, stage conv channels, stage out channels, convs per block,
# blocks per stage, depthwise.
TIMM_SPECS = {
    'V-19-slim-dw': ((64, 64, 64), (64, 80, 96, 112), (112, 256, 384, 512), 3, (1, 1, 1, 1), True),
    'V-19-dw': ((64, 64, 64), (128, 160, 192, 224), (256, 512, 768, 1024), 3, (1, 1, 1, 1), True),
    'V-19-slim': ((64, 64, 128), (64, 80, 96, 112), (112, 256, 384, 512), 3, (1, 1, 1, 1), False),
    'V-19': ((64, 64, 128), (128, 160, 192, 224), (256, 512, 768, 1024), 3, (1, 1, 1, 1), False),
    'V-39': ((64, 64, 128), (128, 160, 192, 224), (256, 512, 768, 1024), 5, (1, 1, 2, 2), False),
    'V-57': ((64, 64, 128), (128, 160, 192, 224), (256, 512, 768, 1024), 5, (1, 1, 4, 3), False),
    'V-99': ((64, 64, 128), (128, 160, 192, 224), (256, 512, 768, 1024), 5, (1, 3, 9, 3), False),
}

# ---------------------------------------------------------------------------------------------
# Source checkpoints
# ---------------------------------------------------------------------------------------------


def timm_state_dict(arch: str, seed: int) -> Dict[str, Tensor]:
    """A timm ``ese_vovnet*b`` state dict (random values) from timm's key patterns."""
    stem, mid, out, num_convs, num_blocks, depthwise = TIMM_SPECS[arch]
    shapes: Dict[str, Tuple[int, ...]] = {}

    def unit(name: str, in_channels: int, out_channels: int, kernel: int,
             separable: bool = False) -> None:
        if separable:
            shapes[f'{name}.conv_dw.weight'] = (in_channels, 1, 3, 3)
            shapes[f'{name}.conv_pw.weight'] = (out_channels, in_channels, 1, 1)
        else:
            shapes[f'{name}.conv.weight'] = (out_channels, in_channels, kernel, kernel)
        for param in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'):
            shapes[f'{name}.bn.{param}'] = () if param == 'num_batches_tracked' else (out_channels,)

    unit('stem.0', 3, stem[0], 3)
    unit('stem.1', stem[0], stem[1], 3, depthwise)
    unit('stem.2', stem[1], stem[2], 3, depthwise)
    in_channels = stem[2]
    for s in range(4):
        for b in range(num_blocks[s]):
            block = f'stages.{s}.blocks.{b}'
            conv_in = in_channels
            if depthwise and in_channels != mid[s]:
                unit(f'{block}.conv_reduction', in_channels, mid[s], 1)
                conv_in = mid[s]
            for k in range(num_convs):
                unit(f'{block}.conv_mid.{k}', conv_in, mid[s], 3, depthwise)
                conv_in = mid[s]
            unit(f'{block}.conv_concat', in_channels + num_convs * mid[s], out[s], 1)
            if b == num_blocks[s] - 1:
                shapes[f'{block}.attn.fc.weight'] = (out[s], out[s], 1, 1)
                shapes[f'{block}.attn.fc.bias'] = (out[s], )
            in_channels = out[s]
    shapes['head.fc.weight'] = (1000, in_channels)
    shapes['head.fc.bias'] = (1000, )
    return random_values({key: torch.empty(shape, device='meta') for key, shape in shapes.items()},
                         seed)


# ---------------------------------------------------------------------------------------------
# Independent forwards of the source networks
# ---------------------------------------------------------------------------------------------


class Centermask2Names:
    """Parameter names of a centermask2 VoVNet (``prefix`` + ``stage3.OSA3_1...``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def stem(self, i: int) -> str:
        return f'{self.prefix}stem.stem_{i + 1}'

    def block(self, s: int, b: int) -> str:
        return f'{self.prefix}stage{s + 2}.OSA{s + 2}_{b + 1}'

    def reduction(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.conv_reduction.OSA{s + 2}_{b + 1}_reduction_0'

    def layer(self, s: int, b: int, k: int) -> str:
        return f'{self.block(s, b)}.layers.{k}.OSA{s + 2}_{b + 1}_{k}'

    def concat(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.concat.OSA{s + 2}_{b + 1}_concat'

    def attention(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.ese.fc'

    @staticmethod
    def unit(name: str) -> Dict[str, str]:
        return dict(conv=f'{name}/conv.weight', norm=f'{name}/norm', offset=f'{name}/conv_offset',
                    dw=f'{name}/dw_conv3x3.weight', pw=f'{name}/pw_conv1x1.weight',
                    pw_norm=f'{name}/pw_norm')


class TimmNames:
    """Parameter names of a timm VoVNet (``stages.{s}.blocks.{b}...``)."""

    @staticmethod
    def stem(i: int) -> str:
        return f'stem.{i}'

    @staticmethod
    def block(s: int, b: int) -> str:
        return f'stages.{s}.blocks.{b}'

    def reduction(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.conv_reduction'

    def layer(self, s: int, b: int, k: int) -> str:
        return f'{self.block(s, b)}.conv_mid.{k}'

    def concat(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.conv_concat'

    def attention(self, s: int, b: int) -> str:
        return f'{self.block(s, b)}.attn.fc'

    @staticmethod
    def unit(name: str) -> Dict[str, str]:
        return dict(conv=f'{name}.conv.weight', norm=f'{name}.bn', offset=f'{name}.conv_offset',
                    dw=f'{name}.conv_dw.weight', pw=f'{name}.conv_pw.weight', pw_norm=f'{name}.bn')


def conv_unit(sd: Dict[str, Tensor], names: Dict[str, str], x: Tensor, stride: int = 1) -> Tensor:
    """conv (plain, modulated deformable or depthwise-separable) -> BN -> ReLU."""
    if names['dw'] in sd:
        weight = sd[names['dw']]
        x = F.conv2d(x, weight, stride=stride, padding=1, groups=weight.shape[0])
        return F.relu(batch_norm(sd, names['pw_norm'], F.conv2d(x, sd[names['pw']])))
    weight = sd[names['conv']]
    if f'{names["offset"]}.weight' in sd:  # DCNv2 as centermask2 computes it
        offset_x, offset_y, mask = F.conv2d(x, sd[f'{names["offset"]}.weight'],
                                            sd[f'{names["offset"]}.bias'], padding=1).chunk(3, 1)
        x = modulated_deform_conv2d(x, torch.cat((offset_x, offset_y), 1), mask.sigmoid(),
                                    weight, None, 1, 1, 1, 1, 1)
    else:
        x = F.conv2d(x, weight, stride=stride, padding=weight.shape[-1] // 2)
    return F.relu(batch_norm(sd, names['norm'], x))


def reference_vovnet(sd: Dict[str, Tensor], names, x: Tensor) -> List[Tensor]:
    """Stage 2..5 outputs of a VoVNet given by its state dict; an eSE where the dict has one,
    identity additions in the 2nd and later blocks of a stage."""

    def has(unit: str) -> bool:
        return any(key in sd for key in (names.unit(unit)['conv'], names.unit(unit)['dw']))

    for i, stride in enumerate((2, 1, 2)):
        x = conv_unit(sd, names.unit(names.stem(i)), x, stride)
    outs = []
    for s in range(4):
        if s > 0:
            x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        b = 0
        while has(names.concat(s, b)):
            feats = [x]
            y = conv_unit(sd, names.unit(names.reduction(s, b)), x) if has(
                names.reduction(s, b)) else x
            k = 0
            while has(names.layer(s, b, k)):
                y = conv_unit(sd, names.unit(names.layer(s, b, k)), y)
                feats.append(y)
                k += 1
            y = conv_unit(sd, names.unit(names.concat(s, b)), torch.cat(feats, 1))
            fc = names.attention(s, b)
            if f'{fc}.weight' in sd:
                y = y * F.hardsigmoid(
                    F.conv2d(y.mean((2, 3), keepdim=True), sd[f'{fc}.weight'], sd[f'{fc}.bias']))
            x = y + x if b > 0 else y
            b += 1
        outs.append(x)
    return outs


# ---------------------------------------------------------------------------------------------
# centermask2 -> mmdet
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def lite() -> dict:
    """A CenterMask-Lite V-19-slim-dw: its random state, the centermask2 checkpoint made from it,
    the conversion of that checkpoint (target inferred) and a model holding the result."""
    model = build_model(LITE_DW_CONFIG)
    state = random_values(model.state_dict(), seed=0)
    source = to_centermask2(state)
    conversion = convert_centermask2(source)
    load(model, conversion.checked_state_dict())
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
    load(model, conversion.checked_state_dict())
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
    load(model, conversion.checked_state_dict())
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


# ---------------------------------------------------------------------------------------------
# detectron2 / timm ImageNet VoVNet -> mmdet backbone
# ---------------------------------------------------------------------------------------------


def load_backbone(arch: str, state_dict: Dict[str, Tensor]) -> VoVNet:
    with torch.device('meta'):
        backbone = VoVNet(arch).eval()
    return load(backbone, state_dict)


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


def test_load_source_rejects_non_state_dicts(tmp_path: Path) -> None:
    path = tmp_path / 'bad.pth'
    torch.save(dict(model=dict(weight=torch.zeros(1), note='text')), path)
    with pytest.raises(ConversionError, match="entry 'note' is a str"):
        load_source_state_dict(str(path))
    torch.save(dict(model=dict(weight=torch.zeros(1))), path)
    assert list(load_source_state_dict(str(path))) == ['weight']
