"""Fix 3: standard-library imports in classic configs.

OpenMMLab's mmengine (0.10.7) counts a module as built-in (``_is_builtin_module`` in
``mmengine.config.utils``) only when its file lies under the interpreter's prefix, so Python
3.11's frozen modules (``os``, origin ``'frozen'``) and, inside a virtual environment, the whole
standard library count as third-party. A classic config that imports one before its ``_base_``
line is then parsed as a pure-Python (lazy) config and fails with ``ConfigParsingError``. Where
mmengine does so, every module in ``sys.stdlib_module_names`` counts as built-in.
"""
import functools
import sys

from mmengine.config import utils as config_utils

from .fix import CompatFix, replace_in_mmengine_modules

# a frozen module, and modules whose files lie in the base interpreter's standard library
PROBE_MODULES = ('os', 'json', 'argparse')


def _misses_stdlib_modules() -> bool:
    return not all(config_utils._is_builtin_module(name) for name in PROBE_MODULES)


def _count_stdlib_modules_as_builtin() -> None:
    original = config_utils._is_builtin_module

    @functools.wraps(original)
    def is_builtin_module(module_name: str) -> bool:
        return module_name.split('.')[0] in sys.stdlib_module_names or original(module_name)

    replace_in_mmengine_modules(original, is_builtin_module)


FIX = CompatFix(
    name='stdlib_config_imports',
    summary='classic configs may import standard-library modules (os, json) before _base_',
    applies_to="mmengine whose config parser counts 'os', 'json' or 'argparse' as third-party "
    "(OpenMMLab's 0.10.7 on Python 3.11 and in virtual environments)",
    unnecessary_since='mmengine main and onedl-mmengine 0.10.12 handle frozen modules and the '
    "base interpreter's prefix",
    is_needed=_misses_stdlib_modules,
    apply=_count_stdlib_modules_as_builtin)
