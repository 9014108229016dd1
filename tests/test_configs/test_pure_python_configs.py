"""The pure-Python configs in ``mmdet_centermask/configs`` against their classic twins.

Each pair must describe the same run: every top-level setting of the classic config (model with
its train_cfg/test_cfg and data preprocessor, dataloaders with their pipelines, samplers and batch
sizes, evaluators, optimizer wrapper and paramwise_cfg, param schedulers, loops, hooks, runtime,
auto_scale_lr) is compared after types are resolved to the objects they name (``'BN'`` and
``BatchNorm2d``, ``'Pretrained'`` and ``PretrainedInit`` are the same), and both models are built
and compared module by module. The pure-Python side is built without a default registry scope:
its types are the classes (its ``default_scope = 'mmdet'`` is for mmdet's tools, which call
``init_default_scope`` with it). It opts into ``mmdet_centermask.compat`` with
``CompatFixesHook`` in ``custom_hooks`` where the classic one has ``custom_imports``. Models are built on the meta device
(names, shapes and module types, no memory). The README's custom-dataset walkthrough
(``test_custom_dataset_walkthrough.py``) trains pure configs under ``tools/train.py``.
"""
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List

import mmcv.ops
import pytest
import torch
from mmengine.config import Config
from mmengine.config.lazy import LazyAttr, LazyObject
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from mmdet import registry as mmdet_registry
from mmdet.datasets.transforms import Resize as MmdetResize
from mmdet.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
CLASSIC_ROOT = ROOT / 'configs'
PURE_ROOT = ROOT / 'mmdet_centermask' / 'configs'
# classic config -> its pure-Python twin: the same folder, '_' for '-' (module names cannot
# contain '-'); the bases (_base_) have no twin of their own, mmdet's classic ones none either
CLASSIC = sorted(str(p.relative_to(CLASSIC_ROOT)) for p in CLASSIC_ROOT.rglob('*.py')
                 if '_base_' not in p.parts)
PAIRS = {classic: classic.replace('-', '_') for classic in CLASSIC}
# what may differ: the pure configs need no custom_imports (they import the classes) and opt into
# the compat fixes with a hook instead
CLASSIC_ONLY_KEYS = {'custom_imports'}
COMPAT_HOOK = 'mmdet_centermask.compat.compat_fixes_hook.CompatFixesHook'
# where strings are registry names; the first registry that knows a name resolves it
TYPE_KEYS = {'type', 'resize_type', 'dataset_type'}
REGISTRIES = [
    mmdet_registry.MODELS, mmdet_registry.TASK_UTILS, mmdet_registry.TRANSFORMS,
    mmdet_registry.DATASETS, mmdet_registry.DATA_SAMPLERS, mmdet_registry.METRICS,
    mmdet_registry.HOOKS, mmdet_registry.LOOPS, mmdet_registry.OPTIM_WRAPPERS,
    mmdet_registry.OPTIMIZERS, mmdet_registry.PARAM_SCHEDULERS, mmdet_registry.VISUALIZERS,
    mmdet_registry.VISBACKENDS, mmdet_registry.LOG_PROCESSORS, mmdet_registry.WEIGHT_INITIALIZERS
]


def type_name(value: Any) -> str:
    """``module.QualName`` of the class, or the name of the function, that a type names (a
    string, class or lazy import); strings are looked up in mmdet's registries, then (RoI layers,
    NMS ops) in ``mmcv.ops``."""
    if isinstance(value, (LazyObject, LazyAttr)):
        value = value.build()
    if isinstance(value, str):
        for registry in REGISTRIES:
            try:
                obj = registry.get(value)
            except RuntimeError:  # not registered and not an importable dotted name
                obj = None
            if obj is not None:
                value = obj
                break
        else:
            # mmdet looks up RoI layers and NMS ops by name in mmcv.ops
            if not hasattr(mmcv.ops, value):
                return value
            value = getattr(mmcv.ops, value)
    if isinstance(value, type):
        return f'{value.__module__}.{value.__qualname__}'
    return value.__name__  # a function, e.g. mmcv.ops.nms


def normalise(value: Any, key: str = '') -> Any:
    """Plain dicts and lists with every type resolved by :func:`type_name`."""
    if isinstance(value, dict):
        items = dict(value.items())  # ConfigDict.items() builds lazy imports
        if 'type' in items and \
                type_name(items['type']) == 'mmcv.transforms.processing.RandomChoiceResize':
            # mmcv's default, resolved in the mmdet scope of the classic configs
            items.setdefault('resize_type', 'Resize')
        # `_scope_` (added to the dicts of `mmdet::` bases) only says where the types resolve
        return {k: normalise(v, k) for k, v in items.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, (LazyObject, LazyAttr, type)) or callable(value):
        return type_name(value)
    if key in TYPE_KEYS and isinstance(value, str):
        return type_name(value)
    return value


@pytest.fixture
def no_default_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DefaultScope instance, as in a Runner started from a pure-Python config."""
    monkeypatch.setattr(DefaultScope, '_instance_dict', OrderedDict())
    assert DefaultScope.get_current_instance() is None


def load_pair(classic: str):
    return (Config.fromfile(CLASSIC_ROOT / classic), Config.fromfile(PURE_ROOT / PAIRS[classic]))


def test_every_config_has_a_pure_twin_and_every_pure_config_a_classic_one():
    assert len(CLASSIC) >= 30
    pure = sorted(str(p.relative_to(PURE_ROOT)) for p in PURE_ROOT.rglob('*.py')
                  if '_base_' not in p.parts and p.name != '__init__.py')
    assert pure == sorted(PAIRS.values())
    # packages all the way down: importable from the installed wheel by read_base()
    assert all((folder / '__init__.py').is_file()
               for folder in PURE_ROOT.rglob('*') if folder.is_dir() and
               folder.name != '__pycache__')


@pytest.mark.parametrize('classic', CLASSIC)
def test_pure_twin_has_the_settings_model_and_pipelines_of_the_classic_config(classic: str,
                                                                              request):
    classic_cfg, pure_cfg = load_pair(classic)
    assert classic_cfg.default_scope == pure_cfg.default_scope == 'mmdet'
    assert 'custom_imports' not in pure_cfg
    assert type_name(pure_cfg.custom_hooks[0]['type']) == COMPAT_HOOK
    for key in sorted(set(classic_cfg.keys()) - CLASSIC_ONLY_KEYS):
        assert key in pure_cfg, key
        pure_value = pure_cfg[key]
        if key == 'custom_hooks':
            pure_value = [hook for hook in pure_value if type_name(hook['type']) != COMPAT_HOOK]
        assert normalise(pure_value, key) == normalise(classic_cfg[key], key), key

    expected = build_model_and_pipelines(classic_cfg)  # in the mmdet scope (conftest)
    request.getfixturevalue('no_default_scope')
    built = build_model_and_pipelines(pure_cfg)
    for key in expected:
        assert built[key] == expected[key], key
    # mmdet's Resize (which also resizes boxes and masks), not mmcv's, also without the mmdet scope
    assert any(MmdetResize in (step[0], step[4]) for step in built['pipelines']['train'])


def describe_transform(transform: Any) -> tuple:
    """A built data transform: its class and the settings that decide the input size."""
    resize = getattr(transform, 'resize', None)  # RandomChoiceResize's inner transform
    return (type(transform), getattr(transform, 'scale', None), getattr(transform, 'scales', None),
            getattr(transform, 'keep_ratio', None), type(resize),
            getattr(resize, 'keep_ratio', None))


def build_model_and_pipelines(cfg: Config) -> Dict[str, Any]:
    cfg.model.backbone.init_cfg = None  # no weights offline
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    pipelines: Dict[str, List[tuple]] = {}
    for split in ('train', 'val', 'test'):
        pipeline = Compose(cfg[f'{split}_dataloader'].dataset.pipeline).transforms
        pipelines[split] = [describe_transform(t) for t in pipeline]
    return dict(
        shapes={k: tuple(v.shape) for k, v in model.state_dict().items()},
        modules={name: type(module) for name, module in model.named_modules()},
        trainable={name: p.requires_grad for name, p in model.named_parameters()},
        pipelines=pipelines,
        test_cfg=normalise(model.test_cfg),
        train_cfg=normalise(model.train_cfg))


