"""What a compatibility fix declares: where it applies, what makes it unnecessary, how to apply it.

Each module of :mod:`mmdet_centermask.compat` defines one :class:`CompatFix`. ``is_needed``
looks at the running stack (a version, or the behaviour itself, such as whether mmengine's
config parser counts ``os`` as built-in), so that a fix applies only where the stack needs it
and switches itself off where an upstream release made it unnecessary.
"""
import inspect
import sys
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class CompatFix:
    """One fix to mmengine's behaviour, applied only where :attr:`is_needed` holds.

    Args:
        name (str): Short identifier, logged when the fix is applied.
        summary (str): What the fix does, in one line.
        applies_to (str): The releases or the detected behaviour it applies to.
        unnecessary_since (str): The upstream change that makes it unnecessary, or why none does.
        is_needed (Callable[[], bool]): Whether the running stack needs it.
        apply (Callable[[], None]): Applies it (called at most once per process).
    """

    name: str
    summary: str
    applies_to: str
    unnecessary_since: str
    is_needed: Callable[[], bool]
    apply: Callable[[], None]


def source_mentions(function: Callable, text: str) -> bool:
    """Whether the source code of ``function`` (unwrapped) contains ``text``.

    Args:
        function (Callable): A function or method of the running stack.
        text (str): What to look for, e.g. ``'pkg_resources'``.

    Returns:
        bool: ``False`` as well where the source cannot be read.
    """
    try:
        return text in inspect.getsource(inspect.unwrap(function))
    except (OSError, TypeError):
        return False


def replace_in_mmengine_modules(original: Callable, replacement: Callable) -> None:
    """Rebind every attribute of a loaded ``mmengine`` module that is ``original``.

    mmengine modules import helpers by name (``from ..utils import is_installed``), so a helper
    is replaced in each module that holds it.
    """
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith('mmengine'):
            continue
        for attribute, value in list(vars(module).items()):
            if value is original:
                setattr(module, attribute, replacement)
