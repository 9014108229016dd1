"""Fix 1b: no fallback to ``torch.load(weights_only=False)`` in mmengine's checkpoint loader.

onedl-mmengine (0.10.12) loads local checkpoints through ``_safe_torch_load``: weights-only
with its own allow-list (which admits the bare ``builtins.getattr``) and, where that raises
``UnpicklingError``, again with ``weights_only=False``, which runs whatever code the file
pickles. Where mmengine has that fallback, ``_safe_torch_load`` without an explicit
``weights_only`` now loads weights-only with torch's allow-list, which
:mod:`~mmdet_centermask.compat.checkpoint_allow_list` extends by exactly what mmengine's
checkpoints hold; a file outside it raises torch's ``UnpicklingError``, as on OpenMMLab's
mmengine. An explicit ``weights_only`` passes through.
"""
import functools

import torch

from .fix import CompatFix, source_mentions


def _falls_back_to_unsafe_loading() -> bool:
    """Whether mmengine's ``_safe_torch_load`` retries with ``weights_only=False``."""
    from mmengine.runner import checkpoint

    load = getattr(checkpoint, '_safe_torch_load', None)
    return load is not None and source_mentions(load, 'weights_only=False')


def _load_weights_only() -> None:
    from mmengine.runner import checkpoint

    safe_torch_load = checkpoint._safe_torch_load

    @functools.wraps(safe_torch_load)
    def weights_only_load(file, map_location=None, weights_only=None):
        if weights_only is None:
            return torch.load(file, map_location=map_location, weights_only=True)
        return safe_torch_load(file, map_location=map_location, weights_only=weights_only)

    checkpoint._safe_torch_load = weights_only_load


FIX = CompatFix(
    name='weights_only_without_fallback',
    summary="mmengine's checkpoint loader never retries with weights_only=False",
    applies_to="mmengine whose _safe_torch_load falls back to weights_only=False "
    '(onedl-mmengine 0.10.12)',
    unnecessary_since='none yet: onedl-mmengine says the fallback "might be removed"',
    is_needed=_falls_back_to_unsafe_loading,
    apply=_load_weights_only)
