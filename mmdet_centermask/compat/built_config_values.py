"""Fix 10: a config that holds built classes prints as a config that reads back.

A pure-Python config holds its imports as lazy objects, which ``Config.pretty_text`` writes as
dotted paths. mmdet's ``replace_cfg_vals`` (``tools/misc/print_config.py``,
``analyze_results.py``, ``confusion_matrix.py``) rebuilds the config from its values, which
builds those imports into classes and functions and drops the record of which top-level names
were imports. mmengine 0.10.7's ``pretty_text`` then writes ``type=<class '...'>`` and fails with
``SyntaxError: Failed to format the config file``; onedl-mmengine 0.10.12's writes
``type=mmengine.optim...LinearLR`` unquoted, which reads back as ``NameError: name 'mmengine'
is not defined`` (``--save-path`` writes a config that does not load). Where the text of a built
class does not read back as its path, a config that holds built classes or functions is written
with each as its dotted path string (as mmengine writes lazy imports), without the top-level
names that hold one (imports, not settings).
"""
import types
from typing import Any

from mmengine.config import Config

from .fix import CompatFix

BUILT = (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType)


def _holds_built(value: Any) -> bool:
    if isinstance(value, dict):
        return any(map(_holds_built, value.values()))
    if isinstance(value, (list, tuple)):
        return any(map(_holds_built, value))
    return isinstance(value, BUILT)


def _as_dotted_paths(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_dotted_paths(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(map(_as_dotted_paths, value))
    if isinstance(value, types.ModuleType):
        return value.__name__
    if isinstance(value, BUILT):
        return f'{value.__module__}.{value.__qualname__}'
    return value


def _built_classes_do_not_read_back() -> bool:
    try:
        text = Config(dict(model=dict(type=Config))).pretty_text
        return Config.fromstring(text, '.py').model.type != 'mmengine.config.config.Config'
    except Exception:  # noqa: BLE001 (SyntaxError on 0.10.7, NameError on onedl 0.10.12)
        return True


def _print_built_values_as_paths() -> None:
    pretty_text = Config.pretty_text

    def pretty_text_of_built_values(self: Config) -> str:
        values = self.to_dict()
        if not _holds_built(values):
            return pretty_text.fget(self)
        settings = {key: value for key, value in values.items() if not isinstance(value, BUILT)}
        return pretty_text.fget(
            Config(_as_dotted_paths(settings), format_python_code=self._format_python_code))

    Config.pretty_text = property(pretty_text_of_built_values, doc=pretty_text.__doc__)


FIX = CompatFix(
    name='built_config_values',
    summary="configs whose lazy imports were built (mmdet's replace_cfg_vals) print as Python",
    applies_to='mmengine whose pretty_text of a class does not read back as its path (0.10.7: '
    "SyntaxError; onedl 0.10.12: unquoted, NameError)",
    unnecessary_since='none: mmdet 3.3 / onedl-mmdetection 3.5 rebuild the config from values',
    is_needed=_built_classes_do_not_read_back,
    apply=_print_built_values_as_paths)
