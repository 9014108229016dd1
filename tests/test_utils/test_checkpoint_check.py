"""``check_checkpoint_fits``: a checkpoint of another architecture is an error, not mmengine's
warnings followed by a test of random weights or training from them."""
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from mmdet_centermask.testing import load_config
from mmengine.model import BaseModel
from torch import nn

from mmdet.models import DetTTAModel
from mmdet.registry import MODELS
from mmdet_centermask.utils.checkpoint_check import check_checkpoint_fits


class Net(BaseModel):
    """A conv + BN trunk (most of the values) and a classifier of ``num_classes``."""

    def __init__(self, num_classes: int = 5, width: int = 32) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 5)
        self.bn = nn.BatchNorm2d(width)
        self.cls = nn.Linear(width, num_classes)

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        return self.cls(self.bn(self.conv(inputs)).mean((2, 3)))


def save(state_dict: dict, path: Path, nested: bool = True) -> str:
    torch.save(dict(state_dict=state_dict, meta=dict()) if nested else state_dict, path)
    return str(path)


@pytest.mark.parametrize('for_training', [False, True])
def test_matching_checkpoint_passes(tmp_path, for_training):
    model = Net()
    state = model.state_dict()
    check_checkpoint_fits(model, save(state, tmp_path / 'nested.pth'), for_training)
    check_checkpoint_fits(model, save(state, tmp_path / 'plain.pth', nested=False), for_training)
    # as mmengine loads: a DDP `module.` prefix is stripped, BN counters may be missing
    ddp_style = OrderedDict((f'module.{key}', value) for key, value in state.items()
                            if not key.endswith('num_batches_tracked'))
    check_checkpoint_fits(model, save(ddp_style, tmp_path / 'ddp.pth'), for_training)


def test_wrapped_model_is_compared_by_its_module(tmp_path):
    model = Net()
    path = save(model.state_dict(), tmp_path / 'net.pth')
    check_checkpoint_fits(DetTTAModel(module=model), path, for_training=False)


@pytest.mark.parametrize('change, message', [
    (lambda state: state.pop('cls.bias'),
     r'1 of the model\'s 9 tensors are missing from it \(e.g. cls.bias\)'),
    (lambda state: state.update(extra=torch.zeros(2)),
     r'1 of its 10 tensors are not in the model \(e.g. extra\)'),
    (lambda state: state.update({'cls.weight': torch.zeros(7, 32)}),
     r'1 have another shape \(e.g. cls.weight \(7, 32\) in the checkpoint, \(5, 32\) in the '
     r'model\)'),
])
def test_any_missing_unexpected_or_reshaped_key_fails_a_test(tmp_path, change, message):
    model = Net()
    state = model.state_dict()
    change(state)
    with pytest.raises(ValueError, match=message):
        check_checkpoint_fits(model, save(state, tmp_path / 'net.pth'), for_training=False)


def test_another_class_count_is_fine_for_training_only(tmp_path):
    """Fine-tuning an 80-class checkpoint on 5 classes: mmengine warns about the classifier."""
    path = save(Net(num_classes=80).state_dict(), tmp_path / 'coco.pth')
    check_checkpoint_fits(Net(num_classes=5), path, for_training=True)
    with pytest.raises(ValueError, match='testing needs every weight of the model'):
        check_checkpoint_fits(Net(num_classes=5), path, for_training=False)


def test_checkpoint_filling_under_half_of_the_model_fails_training(tmp_path):
    path = save(Net(width=16).state_dict(), tmp_path / 'narrow.pth')
    with pytest.raises(ValueError, match=r'[0-9.]+% of the model\'s [0-9]+ parameter values would '
                                         r'load.*train a mostly random model'):
        check_checkpoint_fits(Net(width=32), path, for_training=True)


def test_centermask_lite_checkpoint_does_not_fit_the_r50_model(tmp_path):
    """The real case: V-19 CenterMask-Lite weights loaded into CenterMask R-50."""
    lite = MODELS.build(load_config('centermask/centermask-lite_v2-19_fpn_ms-4x_coco.py').model)
    path = save(lite.state_dict(), tmp_path / 'lite.pth')
    r50 = MODELS.build(load_config('centermask/centermask_r50_fpn_1x_coco.py').model)
    for for_training in (False, True):
        with pytest.raises(ValueError) as error:
            check_checkpoint_fits(r50, path, for_training)
        message = str(error.value)
        assert f'checkpoint {path} does not fit CenterMask' in message
        assert 'tensors are missing from it (e.g. backbone.conv1.weight' in message
        assert 'not in the model (e.g. backbone.stem.stem_1_conv.weight' in message
        assert 'have another shape (e.g. neck.' in message
        assert 'tools/model_converters/centermask2_to_mmdet.py' in message


def test_non_state_dict_checkpoint_is_an_error(tmp_path):
    path = tmp_path / 'model.pth'
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match='holds a list, not a state dict'):
        check_checkpoint_fits(Net(), str(path), for_training=True)
