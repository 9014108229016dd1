"""Stored config text is read as plain data: what mmengine writes parses back to the same
config, anything else is refused before it runs (the end-to-end paths are in test_compat.py)."""
from pathlib import Path

import pytest
from mmengine.config import Config

import mmdet_centermask  # noqa: F401 (registers our types)
from mmdet_centermask.utils.stored_config import (UnsafeStoredConfigError, check_stored_types,
                                                  parse_stored_config)

ROOT = Path(__file__).resolve().parents[2]
CLASSIC = ROOT / 'configs' / 'centermask' / 'centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'
PURE = (ROOT / 'mmdet_centermask' / 'configs' / 'centermask' /
        'centermask_lite_v2_19_slim_dw_fpn_ms_4x_coco.py')


@pytest.mark.parametrize('path', [CLASSIC, PURE], ids=['classic', 'pure'])
def test_pretty_text_parses_back_to_the_config(path: Path) -> None:
    cfg = Config.fromfile(path)
    # what a checkpoint stores; a pure config's types are dumped as dotted paths
    stored = Config.fromstring(cfg.pretty_text, '.py').to_dict()
    parsed = parse_stored_config(cfg.pretty_text)
    assert parsed == stored
    assert parsed['model']['backbone']['arch'] == 'V-19-slim-dw'
    check_stored_types(parsed)  # every type is registered


def test_literals_of_every_kind() -> None:
    text = ("a = dict(b=[1, -2.5, (3, 'x')], c={'k k': None, 1: True}, d={4}, e=-inf)\n"
            "f = nan\n")
    values = parse_stored_config(text)
    assert values['a']['b'] == [1, -2.5, (3, 'x')]
    assert values['a']['c'] == {'k k': None, 1: True} and values['a']['d'] == {4}
    assert values['a']['e'] == float('-inf') and values['f'] != values['f']


@pytest.mark.parametrize('text, why', [
    ("import os\n", 'is a Import statement'),
    ("x = __import__('os').system('true')\n", 'is a Call expression'),
    ("x = dict(**other)\n", 'is a Call expression'),
    ("x = {**other}\n", 'unpacks a dict'),
    ("x = f'{y}'\n", 'is a JoinedStr expression'),
    ("x = y\n", 'is a Name expression'),
    ("x = -'a'\n", 'is a UnaryOp expression'),
    ("x.y = 1\n", 'not "name = value"'),
    ("def f():\n    pass\n", 'is a FunctionDef statement'),
])
def test_code_is_refused_naming_the_line(text: str, why: str) -> None:
    with pytest.raises(UnsafeStoredConfigError, match='refusing the config stored in ck.pth: '
                       'line 1') as error:
        parse_stored_config(text, source='ck.pth')
    assert why in str(error.value) and 'never executed' in str(error.value)


def test_invalid_text_is_refused() -> None:
    with pytest.raises(UnsafeStoredConfigError, match='not valid Python text'):
        parse_stored_config('x = (', source='ck.pth')


@pytest.mark.parametrize('kind, allowed', [
    ('CenterMask', True),  # a registered name (never imported by a dotted path)
    ('mmdet.CenterMask', True),  # scope.name
    ('mmdet_centermask.models.detectors.CenterMask', True),  # a lazy config's dump
    ('mmdet.models.ResNet', True),
    ('subprocess.run', False),
    ('os.system', False),
    ('mmdet.models.detectors.base.BaseDetector.forward', False),  # loaded, not registered
    ('not_a_module.thing', False),
])
def test_dotted_types_must_name_registered_objects(kind: str, allowed: bool) -> None:
    config = dict(model=dict(type='CenterMask', backbone=[dict(type=kind)]))
    if allowed:
        check_stored_types(config)
    else:
        with pytest.raises(UnsafeStoredConfigError, match=f"type='{kind}' is neither"):
            check_stored_types(config)
