"""Fix 5: ``AmpOptimWrapper`` (``--amp``) on a machine without an accelerator.

mmengine's ``AmpOptimWrapper`` asserts that CUDA, NPU, MLU or MUSA is present, although its
``autocast`` supports the CPU in bfloat16. Without an accelerator it now autocasts to bfloat16
with a disabled ``GradScaler`` (bfloat16 has float32's exponent range, so there is no loss
scaling; ``loss_scale`` is ignored); other dtypes raise ``ValueError``.
"""
import functools
from typing import Optional, Union

import torch
from mmengine.device import get_device
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from .fix import CompatFix, source_mentions


def _asserting_wrapper_without_accelerator() -> bool:
    return get_device() == 'cpu' and source_mentions(AmpOptimWrapper.__init__,
                                                     'is_cuda_available()')


def _support_cpu_amp() -> None:
    amp_init = AmpOptimWrapper.__init__

    @functools.wraps(amp_init)
    def amp_init_on_cpu(self,
                        loss_scale: Union[str, float, dict] = 'dynamic',
                        dtype: Optional[Union[str, torch.dtype]] = None,
                        use_fsdp: bool = False,
                        **kwargs) -> None:
        if dtype not in (None, 'bfloat16', torch.bfloat16):
            raise ValueError(f'mixed precision on the CPU runs in bfloat16, got dtype={dtype!r}')
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = torch.bfloat16

    AmpOptimWrapper.__init__ = amp_init_on_cpu


FIX = CompatFix(
    name='cpu_amp',
    summary='--amp autocasts to bfloat16 without an accelerator',
    applies_to='no accelerator, with an AmpOptimWrapper that asserts one (mmengine 0.10.7, '
    'onedl-mmengine 0.10.12)',
    unnecessary_since='none: every mmengine release asserts an accelerator',
    is_needed=_asserting_wrapper_without_accelerator,
    apply=_support_cpu_amp)
