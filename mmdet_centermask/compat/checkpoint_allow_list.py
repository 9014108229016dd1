"""Fix 1: mmengine checkpoints load weights-only on torch >= 2.6.

``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and OpenMMLab's mmengine
(0.10.7) does not pass ``weights_only``. A Runner checkpoint pickles more than tensors:
``HistoryBuffer`` objects in ``message_hub`` (pickled with ``getattr(HistoryBuffer, 'mean')`` and
the other statistics methods), numpy scalars in the runtime info and numpy arrays in
``dataset_meta``. Exactly these globals join torch's weights-only allow-list
(:func:`torch.serialization.add_safe_globals`), with ``builtins.getattr`` mapped to a function
that resolves only those four methods. The alternative, ``weights_only=False`` (mmengine's main
branch), would run arbitrary pickled code from any ``load_from`` file; the allow-list keeps
torch's restricted unpickler, and a plain ``torch.load`` of an mmengine checkpoint works too.
Objects outside the list still fail with torch's message; for files you trust,
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` loads them.
"""
import pickle
from typing import Any, Callable

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.utils import digit_version

from .fix import CompatFix

# ``HistoryBuffer.__init__`` registers these statistics methods and pickles them by name.
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')
# Codes of the numpy dtypes whose arrays and scalars may be in a checkpoint: bool, integers,
# floats, complex numbers and fixed-size strings (no object arrays).
CHECKPOINT_NUMPY_DTYPES = '?bBhHiIlLqQefdgFDGUS'


def history_buffer_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` for the weights-only unpickler: only ``HistoryBuffer``'s statistics."""
    if obj is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'{__name__} allows getattr only for HistoryBuffer statistics, not getattr({obj!r}, '
        f'{name!r})')


def _loads_weights_only_by_default() -> bool:
    """torch >= 2.6, where ``torch.load`` defaults to ``weights_only=True``."""
    return digit_version(torch.__version__) >= digit_version('2.6.0')


def _allow_mmengine_checkpoint_globals() -> None:
    numpy2 = np.lib.NumpyVersion(np.__version__) >= '2.0.0'
    multiarray = np._core.multiarray if numpy2 else np.core.multiarray
    numpy_functions = []
    # numpy >= 2 pickles these under ``numpy._core``, older numpy under ``numpy.core``.
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        numpy_functions += [(multiarray._reconstruct, f'{module}._reconstruct'),
                            (multiarray.scalar, f'{module}.scalar')]
    dtype_classes = {type(np.dtype(code)) for code in CHECKPOINT_NUMPY_DTYPES}
    torch.serialization.add_safe_globals([
        HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'), np.ndarray, np.dtype,
        *dtype_classes, *numpy_functions
    ])


FIX = CompatFix(
    name='checkpoint_allow_list',
    summary="mmengine checkpoints' HistoryBuffer and numpy values load weights-only",
    applies_to='torch >= 2.6 (weights_only=True by default), every mmengine release',
    unnecessary_since='none: mmengine main loads with weights_only=False, which runs pickled code',
    is_needed=_loads_weights_only_by_default,
    apply=_allow_mmengine_checkpoint_globals)
