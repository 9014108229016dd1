import math
import re

import pytest
import torch
import torch.nn.functional as F
from mmcv.ops import ModulatedDeformConv2dPack
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_centermask.models import VoVNet
from mmdet_centermask.models.backbones.vovnet import centermask2_to_vovnet_key
from mmdet_centermask.models.layers.ese import EffectiveSELayer
from mmdet_centermask.models.layers.osa_block import OSABlock

ARCHS = ('V-19-slim-dw', 'V-19-dw', 'V-19-slim', 'V-19', 'V-39', 'V-57', 'V-99')
# SPEC section 1: backbone parameters in millions, no classifier.
PARAMS_M = {
    'V-19-slim-dw': 1.38,
    'V-19-dw': 5.52,
    'V-19-slim': 2.65,
    'V-19': 10.18,
    'V-39': 25.18,
    'V-57': 41.45,
    'V-99': 69.52,
}
# centermask_anchors.md 4.1: tensors in a centermask2 backbone state dict (FrozenBN, so no
# num_batches_tracked).
NUM_TENSORS = {
    'V-19-slim-dw': 132,
    'V-19-dw': 137,
    'V-19-slim': 103,
    'V-19': 103,
    'V-39': 207,
    'V-57': 303,
    'V-99': 527,
}
SLIM_OUT_CHANNELS = (112, 256, 384, 512)
OUT_CHANNELS = (256, 512, 768, 1024)

# A two-stage VoVNet small enough for exhaustive checks; 2 blocks per stage gives identities.
TINY_ARCH = dict(
    stem_channels=(8, 8, 16),
    stage_mid_channels=(8, 12),
    stage_out_channels=(16, 24),
    num_convs=2,
    num_blocks=(2, 2),
    depthwise=False)


def state_dict_tensors(model: nn.Module) -> dict:
    return {k: v for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}


def expected_sizes(size: int, num_stages: int = 4) -> list:
    """Output sizes of stage2.. from the conv / pooling size formulas."""

    def conv_out(n, kernel, stride, padding):
        return math.floor((n + 2 * padding - kernel) / stride) + 1

    def ceil_pool_out(n):
        return math.ceil((n - 3) / 2) + 1

    size = conv_out(size, 3, 2, 1)  # stem_1
    size = conv_out(size, 3, 1, 1)  # stem_2
    size = conv_out(size, 3, 2, 1)  # stem_3
    sizes = [size]
    for _ in range(num_stages - 1):
        size = ceil_pool_out(size)
        sizes.append(size)
    return sizes


def test_expected_sizes_formula():
    assert expected_sizes(225) == [57, 28, 14, 7]
    assert expected_sizes(301) == [76, 38, 19, 9]
    assert expected_sizes(64) == [16, 8, 4, 2]


@pytest.mark.parametrize('arch', ARCHS)
def test_num_parameters_and_tensors(arch):
    model = VoVNet(arch)
    num_params = sum(p.numel() for p in model.parameters())
    assert round(num_params / 1e6, 2) == PARAMS_M[arch]
    assert len(state_dict_tensors(model)) == NUM_TENSORS[arch]


@pytest.mark.parametrize('arch', ARCHS)
def test_output_shapes(arch):
    model = VoVNet(arch).eval()
    channels = SLIM_OUT_CHANNELS if 'slim' in arch else OUT_CHANNELS
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 225, 301))
    assert len(outs) == 4
    for out, c, h, w in zip(outs, channels, expected_sizes(225), expected_sizes(301)):
        assert out.shape == (1, c, h, w)


def test_out_indices_and_strides():
    model = VoVNet('V-19-slim', out_indices=(1, 3)).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 256, 8, 12), (2, 512, 2, 3)]
    with pytest.raises(ValueError, match='out_indices'):
        VoVNet('V-19-slim', out_indices=(4, ))


def test_unknown_arch():
    with pytest.raises(ValueError) as info:
        VoVNet('V-27')
    for arch in ARCHS:
        assert repr(arch) in str(info.value)
    with pytest.raises(ValueError, match='keys'):
        VoVNet(dict(TINY_ARCH, extra=1))
    with pytest.raises(ValueError, match='as many'):
        VoVNet(dict(TINY_ARCH, stage_out_channels=(16, 24, 32)))


def test_custom_arch():
    model = VoVNet(TINY_ARCH, out_indices=(0, 1)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 8, 8), (1, 24, 4, 4)]
    assert model.stage_names == ['stage2', 'stage3']
    assert not model.stage2.OSA2_1.with_identity
    assert model.stage2.OSA2_2.with_identity


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 3, 4])
def test_frozen_stages(frozen_stages):
    model = VoVNet('V-19-slim', frozen_stages=frozen_stages, norm_eval=False)
    model.train()
    parts = ['stem', 'stage2', 'stage3', 'stage4', 'stage5']
    for i, part in enumerate(parts):
        frozen = i <= frozen_stages
        module = getattr(model, part)
        params = list(module.parameters())
        norms = [m for m in module.modules() if isinstance(m, _BatchNorm)]
        assert params and norms
        assert all(p.requires_grad is not frozen for p in params)
        assert all(m.training is not frozen for m in norms)
    with pytest.raises(ValueError, match='frozen_stages'):
        VoVNet('V-19-slim', frozen_stages=5)


def test_frozen_stages_keep_running_stats():
    model = VoVNet('V-19-slim', frozen_stages=1, norm_eval=False).train()
    frozen_mean = model.stage2.OSA2_1.concat.get_submodule('OSA2_1_concat_norm').running_mean
    trained_mean = model.stage3.OSA3_1.concat.get_submodule('OSA3_1_concat_norm').running_mean
    frozen_before, trained_before = frozen_mean.clone(), trained_mean.clone()
    model(torch.rand(2, 3, 64, 64))
    assert torch.equal(frozen_mean, frozen_before)
    assert not torch.equal(trained_mean, trained_before)


@pytest.mark.parametrize('norm_eval', [True, False])
def test_norm_eval(norm_eval):
    model = VoVNet('V-19-slim-dw', norm_eval=norm_eval).train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert len(norms) == 22
    assert all(m.training is not norm_eval for m in norms)
    assert model.training
    assert all(p.requires_grad for p in model.parameters())
    model.eval()
    assert not any(m.training for m in norms)


def test_with_cp_same_outputs_and_grads(monkeypatch):
    from mmdet_centermask.models.layers import osa_block

    calls = []

    def counting_checkpoint(*args, **kwargs):
        calls.append(1)
        return torch.utils.checkpoint.checkpoint(*args, **kwargs)

    monkeypatch.setattr(osa_block, 'checkpoint', counting_checkpoint)
    torch.manual_seed(0)
    model = VoVNet(TINY_ARCH, out_indices=(0, 1), norm_eval=False)
    model_cp = VoVNet(TINY_ARCH, out_indices=(0, 1), norm_eval=False, with_cp=True)
    model_cp.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 32, 32)
    outs = model.train()(x)
    assert not calls
    outs_cp = model_cp.train()(x)
    assert len(calls) == 4  # every OSA block
    for out, out_cp in zip(outs, outs_cp):
        assert torch.allclose(out, out_cp)
    sum(o.square().sum() for o in outs).backward()
    sum(o.square().sum() for o in outs_cp).backward()
    grads_cp = dict(model_cp.named_parameters())
    for name, param in model.named_parameters():
        assert torch.allclose(param.grad, grads_cp[name].grad, atol=1e-6), name
    model_cp.eval()(x)  # the stem output requires grad, but no checkpointing in eval mode
    assert len(calls) == 4


def test_ese_identity_and_formula():
    torch.manual_seed(0)
    ese = EffectiveSELayer(8)
    x = torch.randn(2, 8, 5, 7)
    nn.init.zeros_(ese.fc.weight)
    nn.init.constant_(ese.fc.bias, 3.0)
    assert torch.equal(ese(x), x)
    nn.init.normal_(ese.fc.weight, std=3.0)
    nn.init.normal_(ese.fc.bias, std=3.0)
    pooled = x.sum(dim=(2, 3)) / 35
    z = pooled @ ese.fc.weight[:, :, 0, 0].T + ese.fc.bias
    gate = torch.clamp(z + 3, 0, 6) / 6
    assert ((gate > 0) & (gate < 1)).any() and ((gate == 0) | (gate == 1)).any()
    assert torch.allclose(ese(x), x * gate[:, :, None, None], atol=1e-6)


def randomize_norms(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, _BatchNorm):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)


def conv_unit(x, unit, name, padding):
    conv = unit.get_submodule(f'{name}_conv')
    norm = unit.get_submodule(f'{name}_norm')
    out = F.conv2d(x, conv.weight, padding=padding)
    out = F.batch_norm(out, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=1e-5)
    return out.clamp(min=0)


def dw_unit(x, unit, name):
    dw = unit.get_submodule(f'{name}_dw_conv3x3')
    pw = unit.get_submodule(f'{name}_pw_conv1x1')
    norm = unit.get_submodule(f'{name}_pw_norm')
    out = F.conv2d(x, dw.weight, padding=1, groups=x.shape[1])
    out = F.conv2d(out, pw.weight)
    out = F.batch_norm(out, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=1e-5)
    return out.clamp(min=0)


def ese_by_hand(x, ese):
    z = F.conv2d(x.mean(dim=(2, 3), keepdim=True), ese.fc.weight, ese.fc.bias)
    return x * torch.clamp(z / 6 + 0.5, 0, 1)


def test_osa_block_forward_by_hand():
    torch.manual_seed(0)
    block = OSABlock(8, 4, 8, 3, 'OSA4_2', with_identity=True).eval()
    randomize_norms(block)
    x = torch.randn(2, 8, 6, 5)
    feats, out = [x], x
    for i in range(3):
        out = conv_unit(out, block.layers[i], f'OSA4_2_{i}', padding=1)
        feats.append(out)
    out = conv_unit(torch.cat(feats, dim=1), block.concat, 'OSA4_2_concat', padding=0)
    expected = ese_by_hand(out, block.ese) + x
    assert (expected < 0).any()  # the identity is added after the last ReLU
    with torch.no_grad():
        assert torch.allclose(block(x), expected, atol=1e-5)


def test_depthwise_osa_block_forward_by_hand():
    torch.manual_seed(0)
    block = OSABlock(6, 4, 10, 2, 'OSA3_1', depthwise=True).eval()
    randomize_norms(block)
    x = torch.randn(2, 6, 7, 4)
    reduced = conv_unit(x, block.conv_reduction, 'OSA3_1_reduction_0', padding=0)
    first = dw_unit(reduced, block.layers[0], 'OSA3_1_0')
    second = dw_unit(first, block.layers[1], 'OSA3_1_1')
    concat = conv_unit(torch.cat([x, first, second], dim=1), block.concat, 'OSA3_1_concat', 0)
    with torch.no_grad():
        assert torch.allclose(block(x), ese_by_hand(concat, block.ese), atol=1e-5)
    assert OSABlock(4, 4, 8, 2, 'OSA2_1', depthwise=True).conv_reduction is None


def test_vovnet_v1():
    v1 = VoVNet('V-39', with_ese=False, with_identity=False)
    v2 = VoVNet('V-39')
    assert not any(isinstance(m, EffectiveSELayer) for m in v1.modules())
    assert sum(isinstance(m, EffectiveSELayer) for m in v2.modules()) == 6
    v1_blocks = [m for m in v1.modules() if isinstance(m, OSABlock)]
    v2_blocks = [m for m in v2.modules() if isinstance(m, OSABlock)]
    assert len(v1_blocks) == 6 and not any(b.with_identity for b in v1_blocks)
    assert [b.with_identity for b in v2_blocks] == [False, False, False, True, False, True]
    v1_keys, v2_keys = set(v1.state_dict()), set(v2.state_dict())
    assert v2_keys - v1_keys == {
        f'{stage}.{block}.ese.fc.{p}'
        for stage, block in [('stage2', 'OSA2_1'), ('stage3', 'OSA3_1'), ('stage4', 'OSA4_1'),
                             ('stage4', 'OSA4_2'), ('stage5', 'OSA5_1'), ('stage5', 'OSA5_2')]
        for p in ('weight', 'bias')
    }
    assert v1_keys < v2_keys


@pytest.mark.parametrize(
    'arch, keys',
    [('V-39', {
        'stem.stem_1/conv.weight': (64, 3, 3, 3),
        'stem.stem_1/norm.running_var': (64, ),
        'stem.stem_3/conv.weight': (128, 64, 3, 3),
        'stage2.OSA2_1.layers.4.OSA2_1_4/conv.weight': (128, 128, 3, 3),
        'stage2.OSA2_1.concat.OSA2_1_concat/conv.weight': (256, 768, 1, 1),
        'stage3.OSA3_1.layers.0.OSA3_1_0/conv.weight': (160, 256, 3, 3),
        'stage3.OSA3_1.concat.OSA3_1_concat/conv.weight': (512, 1056, 1, 1),
        'stage3.OSA3_1.ese.fc.weight': (512, 512, 1, 1),
        'stage4.OSA4_1.concat.OSA4_1_concat/conv.weight': (768, 1472, 1, 1),
        'stage4.OSA4_2.layers.0.OSA4_2_0/conv.weight': (192, 768, 3, 3),
        'stage4.OSA4_2.concat.OSA4_2_concat/conv.weight': (768, 1728, 1, 1),
        'stage4.OSA4_2.concat.OSA4_2_concat/norm.running_mean': (768, ),
        'stage5.OSA5_1.layers.0.OSA5_1_0/conv.weight': (224, 768, 3, 3),
        'stage5.OSA5_1.concat.OSA5_1_concat/conv.weight': (1024, 1888, 1, 1),
        'stage5.OSA5_2.concat.OSA5_2_concat/conv.weight': (1024, 2144, 1, 1),
        'stage5.OSA5_2.ese.fc.bias': (1024, ),
    }), ('V-19-slim-dw', {
        'stem.stem_2/dw_conv3x3.weight': (64, 1, 3, 3),
        'stem.stem_2/pw_conv1x1.weight': (64, 64, 1, 1),
        'stem.stem_2/pw_norm.weight': (64, ),
        'stage3.OSA3_1.conv_reduction.OSA3_1_reduction_0/conv.weight': (80, 112, 1, 1),
        'stage3.OSA3_1.layers.0.OSA3_1_0/dw_conv3x3.weight': (80, 1, 3, 3),
        'stage3.OSA3_1.layers.0.OSA3_1_0/pw_conv1x1.weight': (80, 80, 1, 1),
        'stage3.OSA3_1.concat.OSA3_1_concat/conv.weight': (256, 352, 1, 1),
    })])
def test_centermask2_key_layout(arch, keys):
    """centermask2's key names (``stem_1/conv``) map onto ours (``stem_1_conv``): no module name
    of ours has a ``/``, which torch's tracer and mmengine's FLOP counter split on."""
    state_dict = VoVNet(arch).state_dict()
    assert not any('/' in key for key in state_dict)
    for key, shape in keys.items():
        assert state_dict[centermask2_to_vovnet_key('backbone.bottom_up.' + key)].shape == shape


def test_checkpoints_with_the_earlier_slash_names_still_load():
    model = VoVNet('V-19-slim-dw')
    state = {key: torch.randn_like(value.float()).to(value.dtype)
             for key, value in model.state_dict().items()}
    old_names = {re.sub(r'_(dw_conv3x3|pw_conv1x1|pw_norm|conv|norm)\.', r'/\1.', key, count=1): v
                 for key, v in state.items()}
    assert 'stem.stem_2/pw_norm.running_mean' in old_names
    fresh = VoVNet('V-19-slim-dw')
    fresh.load_state_dict(old_names, strict=True)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_dcn():
    dcn = dict(type='DCNv2', deform_groups=1, fallback_on_stride=False)
    model = VoVNet('V-19-slim', dcn=dcn, stage_with_dcn=(False, True, True, True))
    model.init_weights()
    for stage, with_dcn in zip(model.stage_names, (False, True, True, True)):
        convs = [
            layer.get_submodule(n) for m in getattr(model, stage).modules()
            if isinstance(m, OSABlock)
            for layer in m.layers for n, _ in layer.named_children() if n.endswith('_conv')
        ]
        assert len(convs) == 3
        assert all(isinstance(c, ModulatedDeformConv2dPack) is with_dcn for c in convs)
    state_dict = model.state_dict()
    offset_key = centermask2_to_vovnet_key(
        'backbone.bottom_up.stage3.OSA3_1.layers.0.OSA3_1_0/conv_offset.weight')
    assert state_dict[offset_key].shape == (27, 112, 3, 3)
    assert state_dict['stage3.OSA3_1.layers.0.OSA3_1_0_conv.weight'].shape == (80, 112, 3, 3)
    # The default init (Kaiming on every Conv2d) must not reach the offset convs.
    dcns = [m for m in model.modules() if isinstance(m, ModulatedDeformConv2dPack)]
    assert len(dcns) == 9
    assert all(not m.conv_offset.weight.any() and not m.conv_offset.bias.any() for m in dcns)

    # Zero offsets sample the regular grid and the mask is sigmoid(0) = 0.5.
    deform = model.stage3.OSA3_1.layers[1].get_submodule('OSA3_1_1_conv')
    x = torch.randn(1, 80, 9, 11)
    with torch.no_grad():
        assert torch.allclose(deform(x), 0.5 * F.conv2d(x, deform.weight, padding=1), atol=1e-5)
        outs = model.eval()(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == list(SLIM_OUT_CHANNELS)

    with pytest.raises(ValueError, match='depthwise'):
        VoVNet('V-19-slim-dw', dcn=dcn, stage_with_dcn=(False, True, True, True))


def test_default_init():
    model = VoVNet('V-19-slim-dw')
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    for m in norms:
        nn.init.normal_(m.weight)
        nn.init.normal_(m.bias)
    model.init_weights()
    assert all((m.weight == 1).all() and (m.bias == 0).all() for m in norms)
    # Kaiming normal, fan_out: std = sqrt(2 / (out_channels * k * k)).
    weight = model.stage5.OSA5_1.concat.get_submodule('OSA5_1_concat_conv').weight
    assert weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.05)


def test_init_cfg_pretrained(tmp_path):
    dcn = dict(type='DCNv2', deform_groups=1)
    source = VoVNet('V-19-slim', dcn=dcn, stage_with_dcn=(False, False, False, True))
    for param in source.parameters():
        nn.init.normal_(param)
    for m in source.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.uniform_(-1, 1)
    checkpoint = tmp_path / 'vovnet.pth'
    torch.save(source.state_dict(), checkpoint)
    model = VoVNet(
        'V-19-slim',
        dcn=dcn,
        stage_with_dcn=(False, False, False, True),
        init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
    model.init_weights()
    expected = source.state_dict()
    loaded = model.state_dict()
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


def test_init_cfg_pretrained_centermask2_layout(tmp_path):
    """detectron2 ImageNet weights (prefixed, FrozenBN without num_batches_tracked) load as they
    are through the ``prefix`` of mmengine's Pretrained init."""
    source = VoVNet('V-19-slim-dw')
    for param in source.parameters():
        nn.init.normal_(param)
    expected = state_dict_tensors(source)
    checkpoint = tmp_path / 'vovnet19_ese_slim_dw_detectron2.pth'
    torch.save({'backbone.bottom_up.' + k: v for k, v in expected.items()}, checkpoint)
    model = VoVNet(
        'V-19-slim-dw',
        init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint), prefix='backbone.bottom_up.'))
    model.init_weights()
    loaded = state_dict_tensors(model)
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
