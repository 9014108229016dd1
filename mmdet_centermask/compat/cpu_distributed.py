"""Fix 4: distributed runs on a machine without an accelerator.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` (an ``AttributeError`` on CPU
builds of torch), and the Runner passes ``device_ids=[LOCAL_RANK]`` to
``MMDistributedDataParallel``, which torch rejects for a CPU module. Without an accelerator the
process group is now initialised without ``set_device``, with ``gloo`` where the config asks for
``nccl`` (mmdet's ``default_runtime``; NCCL needs CUDA), so that mmdet's own ``dist_train.sh``
runs on a CPU machine; CPU modules are wrapped without ``device_ids``.
"""
import functools

import torch
from mmengine.device import get_device
from mmengine.dist import utils as dist_utils
from mmengine.model import MMDistributedDataParallel

from .fix import CompatFix, source_mentions


def _cuda_only_launcher_without_accelerator() -> bool:
    return get_device() == 'cpu' and source_mentions(dist_utils._init_dist_pytorch,
                                                     'cuda.set_device')


def _support_cpu_distributed() -> None:
    init_dist_pytorch = dist_utils._init_dist_pytorch

    @functools.wraps(init_dist_pytorch)
    def init_dist_pytorch_on_cpu(backend: str, init_backend: str = 'torch', **kwargs) -> None:
        if init_backend != 'torch':
            init_dist_pytorch(backend, init_backend=init_backend, **kwargs)
            return
        # what mmengine does on CUDA, minus torch.cuda.set_device(LOCAL_RANK); NCCL needs CUDA
        torch.distributed.init_process_group(
            backend='gloo' if backend == 'nccl' else backend, **kwargs)

    dist_utils._init_dist_pytorch = init_dist_pytorch_on_cpu

    ddp_init = MMDistributedDataParallel.__init__

    @functools.wraps(ddp_init)
    def ddp_init_on_cpu(self, module: torch.nn.Module, detect_anomalous_params: bool = False,
                        **kwargs) -> None:
        if all(param.device.type == 'cpu' for param in module.parameters()):
            kwargs.pop('device_ids', None)
        ddp_init(self, module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    MMDistributedDataParallel.__init__ = ddp_init_on_cpu


FIX = CompatFix(
    name='cpu_distributed',
    summary='the pytorch launcher and DDP wrapper work without CUDA (gloo for nccl)',
    applies_to='no accelerator, with a launcher that calls torch.cuda.set_device (mmengine '
    '0.10.7, onedl-mmengine 0.10.12)',
    unnecessary_since='none: every mmengine release sets a CUDA device in the pytorch launcher',
    is_needed=_cuda_only_launcher_without_accelerator,
    apply=_support_cpu_distributed)
