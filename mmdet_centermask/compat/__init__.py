"""Fixes to mmengine's behaviour, opted into by importing this subpackage.

``import mmdet_centermask`` registers the plugin's modules and changes nothing else.
``import mmdet_centermask.compat`` (the zoo and demo configs list it in ``custom_imports``; our
tools import it) applies, once per process, each fix below whose ``is_needed()`` holds on the
running stack, and logs the applied ones in one line. Each fix is one module of this package and
says which releases or which detected behaviour it applies to, and which upstream change makes it
unnecessary. ``MMDET_CENTERMASK_NO_COMPAT=1`` applies none (the tests use it to show that each
fix is needed where it applies).
"""
import logging
import os
from typing import List, Tuple

from mmengine.logging import print_log

from . import (built_config_values, checkpoint_allow_list, cpu_amp, cpu_distributed,
               optimizer_messages, own_config_bases, package_lookup, stdlib_config_imports,
               stored_configs_as_data, unreadable_checkpoints, url_checkpoints_weights_only,
               weights_only_without_fallback, workers_die_with_parent)
from .compat_fixes_hook import CompatFixesHook
from .fix import CompatFix

NO_COMPAT_ENV = 'MMDET_CENTERMASK_NO_COMPAT'

# in the order they are applied; numbered 1-11 in the docs, with 1b and the log summary
FIXES: Tuple[CompatFix, ...] = (
    checkpoint_allow_list.FIX,
    weights_only_without_fallback.FIX,
    url_checkpoints_weights_only.FIX,
    package_lookup.FIX,
    stdlib_config_imports.FIX,
    cpu_distributed.FIX,
    cpu_amp.FIX,
    own_config_bases.FIX,
    stored_configs_as_data.FIX,
    workers_die_with_parent.FIX,
    unreadable_checkpoints.FIX,
    built_config_values.FIX,
    optimizer_messages.FIX,
)

applied_fixes: List[str] = []
_decided = False


def apply_compat_fixes() -> List[str]:
    """Apply every fix the running stack needs, once per process, and log their names.

    Returns:
        list[str]: The names of the applied fixes (empty where ``MMDET_CENTERMASK_NO_COMPAT``
        is set to a value other than ``''`` or ``'0'``).
    """
    global _decided
    if _decided:
        return applied_fixes
    _decided = True
    if os.environ.get(NO_COMPAT_ENV, '') not in ('', '0'):
        print_log(f'mmdet_centermask.compat: {NO_COMPAT_ENV} is set, no fix applied',
                  logger='current', level=logging.WARNING)
        return applied_fixes
    not_needed = []
    for fix in FIXES:
        if fix.is_needed():
            fix.apply()
            applied_fixes.append(fix.name)
        else:
            not_needed.append(fix.name)
    print_log(
        f'mmdet_centermask.compat: applied {", ".join(applied_fixes) or "none"}; not needed '
        f'on this stack: {", ".join(not_needed) or "none"}', logger='current', level=logging.INFO)
    return applied_fixes


apply_compat_fixes()

__all__ = [
    'FIXES', 'NO_COMPAT_ENV', 'CompatFix', 'CompatFixesHook', 'applied_fixes', 'apply_compat_fixes'
]
