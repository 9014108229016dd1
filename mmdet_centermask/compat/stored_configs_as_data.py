"""Fix 7: config text stored in a checkpoint is read as data, never executed.

``Runner.resume`` (``--resume``; also :class:`FlexibleRunner`) and
``BaseInferencer._init_model`` (``DetInferencer(model=None, weights=FILE)``) pass ``meta.cfg`` /
the message hub's ``cfg`` to ``Config.fromstring``, which executes it: a checkpoint that loads
weights-only could still run code. Within those two calls ``Config.fromstring`` parses the text
as plain data (:mod:`mmdet_centermask.utils.stored_config`; what mmengine writes is plain data)
and, for the inferencer, which builds the model from it, refuses dotted ``type`` paths that are
not registered classes; anything else raises
:class:`~mmdet_centermask.utils.stored_config.UnsafeStoredConfigError` naming the line.
Elsewhere ``Config.fromstring`` is unchanged.
"""
import contextvars
import functools
import inspect
from typing import Callable

from mmengine.config import Config

from ..utils.stored_config import check_stored_types, parse_stored_config
from .fix import CompatFix

# (checkpoint path, whether to check ``type`` paths) while mmengine reads a checkpoint's config
_stored_config_source: contextvars.ContextVar = contextvars.ContextVar(
    'stored_config_source', default=None)


def _reading_stored_config(method: Callable, path_argument: str, check_types: bool) -> Callable:
    """Wrap ``method`` so that ``Config.fromstring`` within it reads plain data only."""
    position = list(inspect.signature(method).parameters).index(path_argument)

    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        path = kwargs.get(path_argument, args[position] if len(args) > position else None)
        token = _stored_config_source.set((f'checkpoint {path}', check_types))
        try:
            return method(*args, **kwargs)
        finally:
            _stored_config_source.reset(token)

    return wrapped


def _executes_stored_configs() -> bool:
    """Every mmengine release passes stored text to ``Config.fromstring``, which runs it."""
    return True


def _read_stored_configs_as_data() -> None:
    from mmengine.infer import BaseInferencer
    from mmengine.runner import FlexibleRunner, Runner

    fromstring = Config.fromstring

    @functools.wraps(fromstring)
    def fromstring_as_data(cfg_str: str, file_format: str) -> Config:
        reading = _stored_config_source.get()
        if reading is None or file_format != '.py':
            return fromstring(cfg_str, file_format)
        source, check_types = reading
        values = parse_stored_config(cfg_str, source)
        if check_types:
            check_stored_types(values, source)
        return Config(values)

    Config.fromstring = staticmethod(fromstring_as_data)
    for runner in (Runner, FlexibleRunner):
        runner.resume = _reading_stored_config(runner.resume, 'filename', check_types=False)
    BaseInferencer._init_model = _reading_stored_config(
        BaseInferencer._init_model, 'weights', check_types=True)


FIX = CompatFix(
    name='stored_configs_as_data',
    summary='config text stored in checkpoints is parsed as data on resume and in inferencers',
    applies_to='every mmengine release (Config.fromstring executes the stored text)',
    unnecessary_since='none',
    is_needed=_executes_stored_configs,
    apply=_read_stored_configs_as_data)
