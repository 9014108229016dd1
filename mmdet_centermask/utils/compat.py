"""Fixes for mmengine 0.10.7 on the torch, setuptools and Python releases it predates.

:func:`apply_compat_patches` runs when :mod:`mmdet_centermask` is imported, so the fixes are
active in our tools and, through ``custom_imports``, in mmdet's stock tools. It is idempotent
and changes nothing beyond the nine behaviours below. Setting the environment variable
``MMDET_CENTERMASK_NO_COMPAT=1`` skips it, which reproduces the upstream failures (the tests
use it to show that each fix is needed).

1. **Loading mmengine checkpoints with torch >= 2.6.** ``torch.load`` defaults to
   ``weights_only=True``, and mmengine's loaders (``mmengine/runner/checkpoint.py``, used by
   ``load_from``, ``resume`` and :func:`mmengine.runner.load_checkpoint`) do not pass
   ``weights_only``. A Runner checkpoint pickles more than tensors: ``HistoryBuffer`` objects in
   ``message_hub`` (each holding numpy arrays and its statistics methods, pickled as
   ``getattr(HistoryBuffer, 'mean')`` and so on), numpy scalars in the runtime info and numpy
   arrays in ``dataset_meta``. Fix: put exactly these globals on torch's weights-only
   allow-list (:func:`torch.serialization.add_safe_globals`), with ``builtins.getattr`` mapped
   to a function that resolves nothing but those four ``HistoryBuffer`` methods. The
   alternative, ``weights_only=False`` in mmengine's loaders (mmengine's ``main`` branch), would
   run arbitrary pickled code from any ``load_from`` file, downloaded ones included; the
   allow-list keeps torch's restricted unpickler, and plain ``torch.load`` of an mmengine
   checkpoint works too. Objects outside the list (e.g. a custom statistics method registered
   on ``HistoryBuffer``) still fail with torch's message; for files you trust,
   ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` loads them.
2. **``mmdet::`` configs without ``pkg_resources``** (removed in setuptools 82).
   ``mmengine.utils.is_installed`` / ``get_installed_path`` / ``package2module`` import it; they
   are replaced by :mod:`importlib.metadata` equivalents in ``mmengine.utils.package_utils``
   and in every loaded mmengine module that imported them by name.
3. **Standard-library imports in classic configs.** ``mmengine.config.utils._is_builtin_module``
   counts a module as built-in only when its file lies under the interpreter's prefix, so
   Python 3.11's frozen modules (``os``, origin ``'frozen'``) and, inside a virtualenv, the
   whole standard library count as third-party. A classic config that imports one before its
   ``_base_`` line is then parsed as a pure-Python (lazy) config and fails. Every module in
   ``sys.stdlib_module_names`` now counts as built-in.
4. **Distributed runs on a CPU-only machine.** mmengine's ``pytorch`` launcher calls
   ``torch.cuda.set_device`` (an ``AttributeError`` on CPU builds of torch), and the Runner
   passes ``device_ids=[LOCAL_RANK]`` to ``MMDistributedDataParallel``, which torch rejects for
   a CPU module. Without an accelerator the process group is now initialised without
   ``set_device``, with ``gloo`` where the config asks for ``nccl`` (mmdet's ``default_runtime``;
   NCCL needs CUDA), so mmdet's own ``dist_train.sh`` runs on a CPU machine too; CPU modules are
   wrapped without ``device_ids``.
5. **``AmpOptimWrapper`` on a CPU-only machine.** It asserts that an accelerator is present,
   although mmengine's ``autocast`` supports CPU in bfloat16. Without an accelerator it now
   autocasts to bfloat16 with a disabled ``GradScaler`` (bfloat16 has float32's exponent range,
   so there is no loss scaling; ``loss_scale`` is ignored); other dtypes raise ``ValueError``.
6. **``mmdet_centermask::`` config bases.** mmengine resolves ``package::path`` only for the
   OpenMMLab packages of its fixed table (``AssertionError: mmengine does not support to load
   mmdet_centermask config``). ``mmdet_centermask`` joins the table, so that a classic config can
   start from ``_base_ = 'mmdet_centermask::centermask/<config>.py'`` (found in the package's
   ``.mim/configs``: the wheel's copy, or the checkout's ``configs/`` through the ``.mim`` links
   of an editable install); its dicts get ``_scope_='mmdet'``, the registries our parts are in.
   It works wherever :mod:`mmdet_centermask` is imported before the config is read (our tools;
   mmdet's read the bases before the config's ``custom_imports`` run).
7. **Config text stored in checkpoints is read as data, never executed.** ``Runner.resume``
   (``--resume``; also :class:`FlexibleRunner`) and ``BaseInferencer._init_model``
   (``DetInferencer(model=None, weights=FILE)``) pass ``meta.cfg`` / the message hub's ``cfg`` to
   ``Config.fromstring``, which executes it: a checkpoint that loads weights-only could still
   run code. Within those two calls ``Config.fromstring`` now parses the text as plain data
   (:mod:`mmdet_centermask.utils.stored_config`; what mmengine writes is plain data) and, for
   the inferencer, which builds the model from it, refuses dotted ``type`` paths that are not
   registered classes; anything else raises :class:`UnsafeStoredConfigError` naming the line.
   Elsewhere ``Config.fromstring`` is unchanged.
8. **DataLoader workers die with their process.** A run killed with ``kill -9`` (or by the
   out-of-memory killer) left its workers alive for minutes, some ignoring ``SIGTERM``: torch's
   workers check for a dead parent only between batches, and one whose batch is still being
   written into the results pipe waits forever (the other workers hold its reading end).
   Loaders built by ``Runner.build_dataloader`` now ask Linux to send their workers
   ``SIGKILL`` when the process that started them ends (``prctl(PR_SET_PDEATHSIG)``), before
   mmengine's own ``worker_init_fn`` (seeding) runs.
9. **Unreadable checkpoints are named.** An empty or truncated local file given to mmengine's
   checkpoint loader raised a bare ``EOFError`` or torch's ``PytorchStreamReader failed``; it
   raises :class:`~mmdet_centermask.utils.checkpoint_errors.UnreadableCheckpointError` with its
   path and the newest older whole checkpoint beside it.
"""
import contextvars
import functools
import importlib.metadata
import importlib.util
import inspect
import os
import os.path as osp
import pickle
import sys
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from mmengine.config import utils as config_utils
from mmengine.device import get_device
from mmengine.dist import utils as dist_utils
from mmengine.logging import HistoryBuffer
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.utils import package_utils

from .checkpoint_errors import explain_unreadable_checkpoints
from .stored_config import check_stored_types, parse_stored_config

NO_COMPAT_ENV = 'MMDET_CENTERMASK_NO_COMPAT'

# ``HistoryBuffer.__init__`` registers these statistics methods and pickles them by name.
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')
# Codes of the numpy dtypes whose arrays and scalars may be in a checkpoint: bool, integers,
# floats, complex numbers and fixed-size strings (no object arrays).
CHECKPOINT_NUMPY_DTYPES = '?bBhHiIlLqQefdgFDGUS'

_applied = False


def apply_compat_patches() -> None:
    """Apply the fixes described in this module's docstring, once per process.

    Does nothing when the environment variable ``MMDET_CENTERMASK_NO_COMPAT`` is set to a
    value other than ``''`` or ``'0'``.
    """
    global _applied
    if _applied or os.environ.get(NO_COMPAT_ENV, '') not in ('', '0'):
        return
    _allow_mmengine_checkpoint_globals()
    _replace_pkg_resources_lookups()
    _count_stdlib_modules_as_builtin()
    _support_cpu_distributed()
    _support_cpu_amp()
    _support_own_config_bases()
    _read_stored_configs_as_data()
    _end_workers_with_their_process()
    explain_unreadable_checkpoints()
    _applied = True


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` for the weights-only unpickler: only ``HistoryBuffer``'s statistics."""
    if obj is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'{__name__} allows getattr only for HistoryBuffer statistics, not getattr({obj!r}, '
        f'{name!r})')


def _allow_mmengine_checkpoint_globals() -> None:
    """Allow-list the non-tensor globals of mmengine Runner checkpoints (fix 1)."""
    numpy2 = np.lib.NumpyVersion(np.__version__) >= '2.0.0'
    multiarray = np._core.multiarray if numpy2 else np.core.multiarray
    numpy_functions = []
    # numpy >= 2 pickles these under ``numpy._core``, older numpy under ``numpy.core``.
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        numpy_functions += [(multiarray._reconstruct, f'{module}._reconstruct'),
                            (multiarray.scalar, f'{module}.scalar')]
    dtype_classes = {type(np.dtype(code)) for code in CHECKPOINT_NUMPY_DTYPES}
    torch.serialization.add_safe_globals([
        HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'), np.ndarray, np.dtype,
        *dtype_classes, *numpy_functions
    ])


def _is_installed(package: str) -> bool:
    """``mmengine.utils.is_installed`` without ``pkg_resources``.

    Args:
        package (str): Distribution name, or a module name found on ``sys.path``.

    Returns:
        bool: Whether the package is installed.
    """
    try:
        importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None
    return True


def _package2module(package: str) -> str:
    """``mmengine.utils.package_utils.package2module`` without ``pkg_resources``.

    Args:
        package (str): Distribution name, e.g. ``'mmcv-full'``.

    Returns:
        str: Its first top-level module, e.g. ``'mmcv'``.
    """
    top_level = importlib.metadata.distribution(package).read_text('top_level.txt')
    if not top_level:
        raise ValueError(f'can not infer the module name of {package}')
    return top_level.split('\n')[0]


def _get_installed_path(package: str) -> str:
    """``mmengine.utils.get_installed_path`` without ``pkg_resources``.

    Args:
        package (str): Distribution name, or a module name found on ``sys.path``.

    Returns:
        str: Directory of the installed package.
    """
    try:
        distribution = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        if spec is None:
            raise
        if spec.origin is None:
            raise RuntimeError(f'{package} is a namespace package, which is invalid for '
                               '`get_install_path`') from None
        return osp.dirname(spec.origin)
    location = osp.abspath(str(distribution.locate_file('')))
    possible_path = osp.join(location, package)
    if osp.exists(possible_path):
        return possible_path
    module = _package2module(package)
    if osp.exists(osp.join(location, module)):
        return osp.join(location, module)
    # an editable install keeps the package outside site-packages
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f'cannot find the installed files of {package}')
    return spec.submodule_search_locations[0]


def _replace_in_mmengine_modules(original: Callable, replacement: Callable) -> None:
    """Rebind every loaded ``mmengine`` module attribute that is ``original``."""
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith('mmengine'):
            continue
        for attribute, value in list(vars(module).items()):
            if value is original:
                setattr(module, attribute, replacement)


def _replace_pkg_resources_lookups() -> None:
    """Replace mmengine's ``pkg_resources``-based package lookups (fix 2)."""
    for name, replacement in (('is_installed', _is_installed),
                              ('get_installed_path', _get_installed_path),
                              ('package2module', _package2module)):
        _replace_in_mmengine_modules(getattr(package_utils, name), replacement)


def _count_stdlib_modules_as_builtin() -> None:
    """Make mmengine's config parser treat standard-library modules as built-in (fix 3)."""
    original = config_utils._is_builtin_module
    stdlib_names = getattr(sys, 'stdlib_module_names', frozenset())

    @functools.wraps(original)
    def is_builtin_module(module_name: str) -> bool:
        return module_name.split('.')[0] in stdlib_names or original(module_name)

    _replace_in_mmengine_modules(original, is_builtin_module)


def _without_accelerator() -> bool:
    """Whether mmengine would run on the CPU (no CUDA, NPU, MLU, MUSA or MPS device)."""
    return get_device() == 'cpu'


def _support_cpu_distributed() -> None:
    """Let mmengine's ``pytorch`` launcher and DDP wrapper work without CUDA (fix 4)."""
    init_dist_pytorch = dist_utils._init_dist_pytorch

    @functools.wraps(init_dist_pytorch)
    def init_dist_pytorch_on_cpu(backend: str, init_backend: str = 'torch', **kwargs) -> None:
        if init_backend != 'torch' or not _without_accelerator():
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


def _support_cpu_amp() -> None:
    """Let ``AmpOptimWrapper`` autocast to bfloat16 without an accelerator (fix 5)."""
    amp_init = AmpOptimWrapper.__init__

    @functools.wraps(amp_init)
    def amp_init_on_cpu(self,
                        loss_scale: Union[str, float, dict] = 'dynamic',
                        dtype: Optional[Union[str, torch.dtype]] = None,
                        use_fsdp: bool = False,
                        **kwargs) -> None:
        if not _without_accelerator():
            amp_init(self, loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp, **kwargs)
            return
        if dtype not in (None, 'bfloat16', torch.bfloat16):
            raise ValueError(f'mixed precision on the CPU runs in bfloat16, got dtype={dtype!r}')
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = torch.bfloat16

    AmpOptimWrapper.__init__ = amp_init_on_cpu


def _support_own_config_bases() -> None:
    """Resolve ``mmdet_centermask::`` bases, in mmdet's registry scope (fix 6)."""
    from mmengine.config import Config

    config_utils.MODULE2PACKAGE.setdefault('mmdet_centermask', 'mmdet_centermask')
    get_cfg_path = Config._get_cfg_path

    @functools.wraps(get_cfg_path)
    def get_cfg_path_in_mmdet_scope(cfg_path: str, filename: str):
        path, scope = get_cfg_path(cfg_path, filename)
        return path, 'mmdet' if scope == 'mmdet_centermask' else scope

    Config._get_cfg_path = staticmethod(get_cfg_path_in_mmdet_scope)


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


def _read_stored_configs_as_data() -> None:
    """Never execute the config text a checkpoint carries (fix 7)."""
    from mmengine.config import Config
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


class _ExitWithParent:
    """A DataLoader ``worker_init_fn`` that first makes the worker die with its parent."""

    PR_SET_PDEATHSIG = 1

    def __init__(self, worker_init_fn: Optional[Callable], parent_pid: int) -> None:
        self.worker_init_fn = worker_init_fn
        self.parent_pid = parent_pid

    def __call__(self, worker_id: int) -> None:
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(self.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != self.parent_pid:  # the parent died before prctl took effect
            os._exit(1)
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)


def _end_workers_with_their_process() -> None:
    """Give the workers of mmengine's DataLoaders a parent-death signal (fix 8, Linux)."""
    from mmengine.runner import Runner

    if not sys.platform.startswith('linux'):
        return
    build_dataloader = Runner.build_dataloader

    @functools.wraps(build_dataloader)
    def build_dataloader_ending_workers(*args, **kwargs):
        dataloader = build_dataloader(*args, **kwargs)
        if isinstance(dataloader, torch.utils.data.DataLoader) and dataloader.num_workers > 0:
            dataloader.worker_init_fn = _ExitWithParent(dataloader.worker_init_fn, os.getpid())
        return dataloader

    Runner.build_dataloader = staticmethod(build_dataloader_ending_workers)
