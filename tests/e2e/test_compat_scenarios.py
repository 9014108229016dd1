"""Each fix of ``mmdet_centermask.compat`` is needed where it applies, and works.

Every scenario below runs twice in a fresh process (``fork_scenarios``): once with
``MMDET_CENTERMASK_NO_COMPAT=1``, and once with the fixes the running stack needs, where its
results are checked. Where the stack needs the scenario's fix (it is in ``applied_fixes``), the
first run must fail with the upstream error; where it does not, the scenario must pass without
it, which shows that the fix switched itself off rightly. Subprocesses keep the process-wide
patches and the distributed process group out of the pytest process.
"""
import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import pytest
import torch
from mmengine.config import config as config_module
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

import mmdet_centermask
from mmdet_centermask.compat import NO_COMPAT_ENV, applied_fixes, apply_compat_fixes
from mmdet_centermask.testing import free_port

TRAIN_ITERS = 3
RESUMED_ITERS = 5


class ToyModel(BaseModel):
    """Linear regression as an mmengine model."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs: torch.Tensor, targets: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> object:
        outputs = self.linear(inputs).squeeze(1)
        if mode == 'loss':
            return dict(loss=((outputs - targets)**2).mean())
        return outputs


class ToyDataset(Dataset):
    """Eight points; ``metainfo`` (saved as ``dataset_meta``) holds a numpy array."""

    metainfo = dict(classes=('low', 'high'), palette=np.array([[0, 0, 255], [255, 0, 0]], np.uint8))

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([index, 1.0]), targets=torch.tensor(index % 2.0))


class RecordResumedState(Hook):
    """Copies what the Runner holds when training (re)starts."""

    def before_train(self, runner: Runner) -> None:
        self.iter = runner.iter
        self.weights = copy.deepcopy(runner.model.state_dict())
        self.optimizer = copy.deepcopy(runner.optim_wrapper.state_dict())
        self.lr_history = runner.message_hub.get_scalar('train/lr').data[0].tolist()
        self.numpy_info = runner.message_hub.get_info('numpy_info')
        self.schedulers = [scheduler.state_dict() for scheduler in runner.param_schedulers]


def build_toy_runner(work_dir: Path, max_iters: int, resume: bool, name: str,
                     hook: Optional[Hook] = None) -> Runner:
    """An mmengine Runner on the CPU with optimizer momentum, two schedulers and checkpoints."""
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(dataset=ToyDataset(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=[dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=2),
                         dict(type='MultiStepLR', milestones=[4], by_epoch=False)],
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=TRAIN_ITERS, by_epoch=False)),
        custom_hooks=[hook] if hook else None,
        resume=resume,
        randomness=dict(seed=0),
        log_level='WARNING')


def tensors_equal(a: object, b: object) -> bool:
    """Deep equality of nested dicts/lists whose leaves may be tensors."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(tensors_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def scenario_runner_resume(tmp: Path) -> dict:
    """Fix 1: a Runner checkpoint is resumed by a new Runner and loaded by mmengine and torch."""
    from mmengine.runner import load_checkpoint

    first = build_toy_runner(tmp, TRAIN_ITERS, resume=False, name='first')
    first.message_hub.update_info('numpy_info', np.float32(0.5))
    first.train()
    checkpoint_path = tmp / f'iter_{TRAIN_ITERS}.pth'
    saved = torch.load(checkpoint_path)  # weights-only, as torch >= 2.6 defaults to

    record = RecordResumedState()
    second = build_toy_runner(tmp, RESUMED_ITERS, resume=True, name='second', hook=record)
    second.train()
    model = ToyModel()
    load_checkpoint(model, str(checkpoint_path), map_location='cpu')
    return dict(
        saved_iter=saved['meta']['iter'],
        resumed_iter=record.iter,
        final_iter=second.iter,
        weights_equal_saved=tensors_equal(record.weights, saved['state_dict']),
        weights_equal_trained=tensors_equal(record.weights, first.model.state_dict()),
        optimizer_equal_saved=tensors_equal(record.optimizer, saved['optimizer']),
        has_momentum=bool(record.optimizer['state']),
        lr_history=record.lr_history,
        saved_lr_history=first.message_hub.get_scalar('train/lr').data[0].tolist(),
        numpy_info=float(record.numpy_info),
        schedulers_equal_saved=record.schedulers == saved['param_schedulers'],
        dataset_meta_palette=saved['meta']['dataset_meta']['palette'].tolist(),
        load_checkpoint_equal=tensors_equal(model.state_dict(), saved['state_dict']))


class NumpyOnePickler(pickle._Pickler):
    """Writes numpy's array/scalar reconstructors under their numpy < 2 module name."""

    def save_global(self, obj: object, name: Optional[str] = None) -> None:
        if getattr(obj, '__module__', None) == 'numpy._core.multiarray':
            self.write(pickle.GLOBAL + f'numpy.core.multiarray\n{obj.__name__}\n'.encode())
            self.memoize(obj)
            return
        super().save_global(obj, name)


def scenario_numpy1_checkpoint(tmp: Path) -> dict:
    """Fix 1: numpy values pickled by numpy 1.x (``numpy.core``) load weights-only."""
    from mmengine.logging import HistoryBuffer

    history = HistoryBuffer()
    history.update(0.25)
    path = tmp / 'numpy1.pth'
    pickle_module = type(sys)('numpy1_pickle')
    pickle_module.Pickler = NumpyOnePickler
    torch.save(dict(history=history, scalar=np.int64(7)), path, pickle_module=pickle_module)
    assert b'numpy.core.multiarray' in path.read_bytes()
    loaded = torch.load(path)
    return dict(history=loaded['history'].data[0].tolist(), scalar=int(loaded['scalar']))


def scenario_mmdet_base_config(tmp: Path) -> dict:
    """Fix 2: an ``mmdet::`` base config resolves without ``pkg_resources``."""
    from mmengine.config import Config

    config = tmp / 'mmdet_base.py'
    config.write_text("_base_ = 'mmdet::_base_/default_runtime.py'\nlog_level = 'WARNING'\n")
    saved = sys.modules.get('pkg_resources')
    sys.modules['pkg_resources'] = None  # what setuptools >= 82 amounts to: no such module
    try:
        cfg = Config.fromfile(config)
    finally:
        if saved is None:
            del sys.modules['pkg_resources']
        else:
            sys.modules['pkg_resources'] = saved
    return dict(default_scope=cfg.default_scope, checkpoint_hook=cfg.default_hooks.checkpoint.type,
                log_level=cfg.log_level)


def scenario_stdlib_import_config(tmp: Path) -> dict:
    """Fix 3: a classic config that imports ``os`` before ``_base_`` parses as classic."""
    from mmengine.config import Config

    (tmp / 'base.py').write_text('lr = 0.01\nwork_dir = None\n')
    config = tmp / 'child.py'
    config.write_text(
        "import os\n_base_ = './base.py'\nwork_dir = os.path.join('work_dirs', 'demo')\n")
    cfg = Config.fromfile(config)
    return dict(lr=cfg.lr, work_dir=cfg.work_dir)



def set_single_process_dist_env() -> None:
    """Environment of a one-process ``torchrun`` job."""
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()), RANK='0',
                      LOCAL_RANK='0', WORLD_SIZE='1')


def scenario_dist_init(tmp: Path) -> dict:
    """Fix 4: mmengine's ``pytorch`` launcher sets up a gloo process group on the CPU, also
    when the config asks for NCCL (mmdet's default_runtime, as under mmdet's dist_train.sh)."""
    from mmengine.dist import get_backend, get_world_size, init_dist

    set_single_process_dist_env()
    init_dist('pytorch', backend='nccl')
    result = dict(backend=get_backend(), world_size=get_world_size())
    torch.distributed.destroy_process_group()
    return result


def scenario_ddp_wrap(tmp: Path) -> dict:
    """Fix 4: the Runner's DDP wrapping (``device_ids=[LOCAL_RANK]``) accepts a CPU model."""
    from mmengine.model import MMDistributedDataParallel
    from mmengine.optim import OptimWrapper

    set_single_process_dist_env()
    torch.distributed.init_process_group('gloo')
    model = MMDistributedDataParallel(module=ToyModel(), device_ids=[0], broadcast_buffers=False)
    before = model.module.linear.weight.detach().clone()
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    data = dict(inputs=torch.ones(2, 2), targets=torch.zeros(2))
    losses = model.train_step(data, optim_wrapper)
    torch.distributed.destroy_process_group()
    return dict(loss_keys=sorted(losses),
                weights_changed=not torch.equal(before, model.module.linear.weight))


def scenario_cpu_amp(tmp: Path) -> dict:
    """Fix 5: ``AmpOptimWrapper`` autocasts to bfloat16 and trains on the CPU."""
    from mmengine.optim import AmpOptimWrapper

    model = ToyModel()
    optim_wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.linear.weight.detach().clone()
    with optim_wrapper.optim_context(model):
        outputs = model(torch.ones(2, 2))
    optim_wrapper.update_params(((outputs.float() - 1)**2).mean())
    reloaded = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    reloaded.load_state_dict(optim_wrapper.state_dict())
    try:
        AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), dtype='float16')
        float16_error = None
    except ValueError as error:
        float16_error = str(error)
    return dict(dtype=str(outputs.dtype), float16_error=float16_error,
                weights_changed=not torch.equal(before, model.linear.weight))


def planted_checkpoint(tmp: Path, stored: Dict[str, str]) -> Path:
    """A checkpoint of tensors and strings only (it loads weights-only, upstream too) whose
    stored config text is ``stored``: ``{'config': text}`` in ``meta`` (read by
    ``Runner.resume``) or ``{'cfg': text}`` in the message hub (read by the inferencer)."""
    checkpoint = dict(meta=dict(epoch=0, iter=TRAIN_ITERS), state_dict=ToyModel().state_dict())
    if 'config' in stored:
        checkpoint['meta']['config'] = stored['config']
    if 'cfg' in stored:
        checkpoint['message_hub'] = dict(runtime_info=dict(cfg=stored['cfg']))
    path = tmp / 'planted.pth'
    torch.save(checkpoint, path)
    return path


def _refused_without_marker(marker: Path, run: Callable[[], object]) -> dict:
    """Run ``run``; the planted code must not have run, and what refused it is the result."""
    try:
        run()
        refusal = None
    except Exception as error:  # noqa: BLE001 (upstream fails later, after the code ran)
        refusal = f'{type(error).__name__}: {error}'
    if marker.exists():
        raise RuntimeError(f'the checkpoint\'s planted code ran (then: {refusal})')
    return dict(refusal=refusal)


def scenario_stored_config_resume(tmp: Path) -> dict:
    """Fix 7: ``--resume`` of a checkpoint whose stored config is code."""
    marker = tmp / 'resume_marker'
    path = planted_checkpoint(
        tmp, dict(config=f'x = __import__("pathlib").Path({str(marker)!r}).touch()\n'))
    runner = build_toy_runner(tmp, RESUMED_ITERS, resume=False, name='planted')
    return _refused_without_marker(marker, lambda: runner.resume(str(path)))


def scenario_stored_config_inferencer(tmp: Path) -> dict:
    """Fix 7: ``DetInferencer(model=None, weights=FILE)`` on a stored config that is code, and
    on plain data that names ``subprocess.run`` as the model's type."""
    from mmdet.apis import DetInferencer

    results = {}
    for kind in ('code', 'dotted_type'):
        marker = tmp / f'{kind}_marker'
        text = (f'x = __import__("pathlib").Path({str(marker)!r}).touch()\n' if kind == 'code'
                else f"model = dict(type='subprocess.run', args='touch {marker}', shell=True)\n")
        path = planted_checkpoint(tmp, dict(cfg=text))
        results[kind] = _refused_without_marker(
            marker, lambda: DetInferencer(model=None, weights=str(path), device='cpu'))['refusal']
    return results


def scenario_built_config_values(tmp: Path) -> dict:
    """Fix 10: a config holding built classes (what mmdet's ``replace_cfg_vals`` leaves of a
    pure-Python config) prints as Python, without the top-level names of its imports."""
    from mmengine.config import Config
    from mmengine.optim.scheduler import LinearLR

    cfg = Config(dict(LinearLR=LinearLR, param_scheduler=[dict(type=LinearLR, end=1001)]))
    printed = Config.fromstring(cfg.pretty_text, '.py')
    return dict(keys=sorted(printed.keys()), type=printed.param_scheduler[0].type)


class PickledTouch:
    """Pickles as a call of ``Path.touch``: code that ``torch.load(weights_only=False)`` runs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return Path.touch, (self.path, )


def scenario_pickled_code_checkpoint(tmp: Path) -> dict:
    """Fix 1b: ``load_from`` of a checkpoint whose pickle calls a function: refused, the call never
    made (onedl-mmengine retries such a file with ``weights_only=False``)."""
    from mmengine.runner import load_checkpoint

    marker = tmp / 'pickle_marker'
    path = tmp / 'pickled_call.pth'
    torch.save(dict(state_dict=ToyModel().state_dict(), meta=dict(note=PickledTouch(marker))),
               path)
    return _refused_without_marker(marker, lambda: load_checkpoint(ToyModel(), str(path)))


def scenario_pickled_code_url(tmp: Path) -> dict:
    """Fix 11: ``load_from`` of an ``http://`` checkpoint (served on localhost) whose pickle calls
    a function: refused, the call never made; a checkpoint of tensors still loads."""
    import functools
    import http.server
    import threading

    from mmengine.runner import load_checkpoint

    os.environ['TORCH_HOME'] = str(tmp / 'torch_home')  # torch.hub's download cache
    marker = tmp / 'url_marker'
    weights = ToyModel().state_dict()
    torch.save(dict(state_dict=weights, meta=dict(note=PickledTouch(marker))), tmp / 'code.pth')
    torch.save(dict(state_dict=weights), tmp / 'plain.pth')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f'http://127.0.0.1:{server.server_address[1]}'
    try:
        result = _refused_without_marker(
            marker, lambda: load_checkpoint(ToyModel(), f'{url}/code.pth'))
        model = ToyModel()
        load_checkpoint(model, f'{url}/plain.pth')
    finally:
        server.shutdown()
    return dict(result, plain_loaded=tensors_equal(model.state_dict(), weights))


# A process that iterates a DataLoader of mmengine's Runner with two workers, whose batches (4 MB
# numpy arrays, as mmdet's bitmap masks in a data sample) are pickled whole into the workers' pipe:
# prints the worker pids once the first batch is in, then waits to be killed.
WORKER_PARENT = """
import os, sys, time
import numpy as np
import psutil
import mmdet_centermask.compat  # the fixes, unless MMDET_CENTERMASK_NO_COMPAT is set
from mmengine.runner import Runner

class Big:
    def __len__(self):
        return 64
    def __getitem__(self, index):
        return [np.full(1 << 22, index % 256, np.uint8)]

loader = Runner.build_dataloader(dict(
    batch_size=1, num_workers=2, dataset=Big(), sampler=dict(type='DefaultSampler', shuffle=False)))
batches = iter(loader)
next(batches)
time.sleep(1)
print('WORKERS', *(child.pid for child in psutil.Process().children()), flush=True)
time.sleep(600)
"""


def scenario_orphan_workers(tmp: Path) -> dict:
    """Fix 8: ``kill -9`` of a process iterating a Runner's DataLoader; its workers must end."""
    import signal
    import time

    import psutil

    parent = subprocess.Popen([sys.executable, '-c', WORKER_PARENT], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=os.environ.copy())
    line = parent.stdout.readline()
    while line and not line.startswith('WORKERS'):  # the log line of mmdet_centermask.compat
        line = parent.stdout.readline()
    workers = [psutil.Process(int(pid)) for pid in line.split()[1:]]
    assert len(workers) == 2, workers
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 8  # beyond the workers' own 5 s check of their parent
    while time.monotonic() < deadline:
        alive = [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return dict(workers=len(workers))
        time.sleep(0.2)
    for worker in alive:
        worker.kill()
    raise RuntimeError(f'{len(alive)} of {len(workers)} DataLoader workers outlived their '
                       'killed parent by 8 s')


SCENARIOS: Dict[str, Callable[[Path], dict]] = {
    'runner_resume': scenario_runner_resume,
    'numpy1_checkpoint': scenario_numpy1_checkpoint,
    'mmdet_base_config': scenario_mmdet_base_config,
    'stdlib_import_config': scenario_stdlib_import_config,
    'dist_init': scenario_dist_init,
    'ddp_wrap': scenario_ddp_wrap,
    'cpu_amp': scenario_cpu_amp,
    'stored_config_resume': scenario_stored_config_resume,
    'stored_config_inferencer': scenario_stored_config_inferencer,
    'orphan_workers': scenario_orphan_workers,
    'pickled_code_checkpoint': scenario_pickled_code_checkpoint,
    'built_config_values': scenario_built_config_values,
    'pickled_code_url': scenario_pickled_code_url,
}
# the fix each scenario proves (mmdet_centermask.compat.FIXES names)
SCENARIO_FIX = {
    'runner_resume': 'checkpoint_allow_list',
    'numpy1_checkpoint': 'checkpoint_allow_list',
    'mmdet_base_config': 'package_lookup',
    'stdlib_import_config': 'stdlib_config_imports',
    'dist_init': 'cpu_distributed',
    'ddp_wrap': 'cpu_distributed',
    'cpu_amp': 'cpu_amp',
    'stored_config_resume': 'stored_configs_as_data',
    'stored_config_inferencer': 'stored_configs_as_data',
    'orphan_workers': 'workers_die_with_parent',
    'pickled_code_checkpoint': 'weights_only_without_fallback',
    'built_config_values': 'built_config_values',
    'pickled_code_url': 'url_checkpoints_weights_only',
}

# The error each scenario raises without the fixes where its fix applies (mmengine 0.10.7 and
# onedl-mmengine 0.10.12, torch 2.13, Python 3.11).
UPSTREAM_ERRORS = {
    'runner_resume': 'UnpicklingError: Weights only load failed',
    'numpy1_checkpoint': 'UnpicklingError: Weights only load failed',
    'mmdet_base_config': 'ModuleNotFoundError: import of pkg_resources halted',
    'stdlib_import_config': 'ConfigParsingError',
    'dist_init': "AttributeError: module 'torch._C' has no attribute '_cuda_setDevice'",
    'ddp_wrap': 'ValueError: DistributedDataParallel device_ids and output_device arguments',
    'cpu_amp': 'AssertionError: ``AmpOptimizerWrapper`` is only available training on gpu',
    'stored_config_resume': "RuntimeError: the checkpoint's planted code ran",
    'stored_config_inferencer': "RuntimeError: the checkpoint's planted code ran",
    # one worker or both, as the kill finds them (blocked on a full pipe or not)
    'orphan_workers': 'DataLoader workers outlived their killed parent',
    'pickled_code_checkpoint': "RuntimeError: the checkpoint's planted code ran",
    # mmengine 0.10.7 cannot format the class; onedl-mmengine writes it unquoted
    'built_config_values': ('SyntaxError: Failed to format the config file',
                            "NameError: name 'mmengine' is not defined"),
    'pickled_code_url': "RuntimeError: the checkpoint's planted code ran",
}


SCENARIO_TIMEOUT_S = 180


def run_scenarios(names: List[str], tmp: str) -> Dict[str, dict]:
    """Run scenarios in this interpreter; a failure becomes ``{'error': 'Type: message'}``."""
    results = {}
    for name in names:
        work_dir = Path(tmp) / name
        work_dir.mkdir(parents=True)
        try:
            results[name] = SCENARIOS[name](work_dir)
        except Exception as error:  # noqa: BLE001 (the error is the result)
            results[name] = dict(error=f'{type(error).__name__}: {error}')
    return results


def fork_scenarios(tmp: str) -> None:
    """Run in a fresh interpreter that imported this module (and so applied the fixes, or not)
    once: fork one child per scenario, all at once, each writing ``<tmp>/<name>.json``. A child
    has its own copy of every patch and process group, as a fresh interpreter would, without
    importing torch and mmengine again; one still running after ``SCENARIO_TIMEOUT_S`` is
    killed and leaves no result."""
    import signal
    import time

    children = {}
    for name in SCENARIOS:
        pid = os.fork()
        if pid == 0:  # the child: run, write, and leave without running the parent's exit code
            status = 1
            try:
                result = json.dumps(run_scenarios([name], tmp))
                Path(tmp, f'{name}.json').write_text(result)
                status = 0
            finally:
                os._exit(status)
        children[pid] = name
    deadline = time.monotonic() + SCENARIO_TIMEOUT_S
    while children and time.monotonic() < deadline:
        pid, _ = os.waitpid(-1, os.WNOHANG)
        if pid:
            children.pop(pid, None)
        else:
            time.sleep(0.1)
    for pid, name in children.items():
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print(f'{name}: no result after {SCENARIO_TIMEOUT_S} s', file=sys.stderr)


def run_scenarios_in_subprocess(tmp: Path, with_compat: bool) -> Dict[str, dict]:
    """Every scenario through :func:`fork_scenarios` in one fresh interpreter, with or without
    ``mmdet_centermask.compat``; a scenario that left no result becomes an error."""
    env = {key: value for key, value in os.environ.items() if key != NO_COMPAT_ENV}
    if not with_compat:
        env[NO_COMPAT_ENV] = '1'
    this_file = str(Path(__file__).resolve())
    process = subprocess.run(
        [sys.executable, '-c',
         'import importlib.util, sys; '
         f'spec = importlib.util.spec_from_file_location("test_compat_scenarios", {this_file!r}); '
         'module = importlib.util.module_from_spec(spec); sys.modules[spec.name] = module; '
         f'spec.loader.exec_module(module); module.fork_scenarios({str(tmp)!r})'],
        env=env, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S + 120)
    results = {}
    for name in SCENARIOS:
        result = tmp / f'{name}.json'
        results.update(json.loads(result.read_text()) if result.is_file() else {
            name: dict(error=f'no result (rc {process.returncode}): {process.stderr[-2000:]}')})
    return results


@pytest.fixture(scope='module')
def upstream_results(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, dict]:
    return run_scenarios_in_subprocess(tmp_path_factory.mktemp('no_compat'), with_compat=False)


@pytest.fixture(scope='module')
def fixed_results(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, dict]:
    return run_scenarios_in_subprocess(tmp_path_factory.mktemp('compat'), with_compat=True)


@pytest.mark.parametrize('name', list(SCENARIOS))
def test_scenario_fails_without_compat_where_its_fix_applies(
        name: str, upstream_results: Dict[str, dict]) -> None:
    if SCENARIO_FIX[name] in applied_fixes:
        expected = UPSTREAM_ERRORS[name]
        error = upstream_results[name].get('error', 'no error')
        assert any(message in error for message in
                   ((expected, ) if isinstance(expected, str) else expected)), error
    else:  # the stack does not need the fix: the scenario passes without it
        assert 'error' not in upstream_results[name], upstream_results[name]['error']


@pytest.mark.parametrize('name', list(SCENARIOS))
def test_scenario_passes_with_compat(name: str, fixed_results: Dict[str, dict]) -> None:
    assert 'error' not in fixed_results[name], fixed_results[name]['error']


def test_runner_resume_restores_saved_state(fixed_results: Dict[str, dict]) -> None:
    result = fixed_results['runner_resume']
    assert result['saved_iter'] == TRAIN_ITERS
    assert result['resumed_iter'] == TRAIN_ITERS
    assert result['final_iter'] == RESUMED_ITERS
    assert result['weights_equal_saved'] and result['weights_equal_trained']
    assert result['optimizer_equal_saved'] and result['has_momentum']
    assert result['lr_history'] == result['saved_lr_history'] == pytest.approx([0.005, 0.01, 0.01])
    assert result['numpy_info'] == 0.5
    assert result['schedulers_equal_saved']
    assert result['dataset_meta_palette'] == [[0, 0, 255], [255, 0, 0]]
    assert result['load_checkpoint_equal']


def test_numpy1_checkpoint_values(fixed_results: Dict[str, dict]) -> None:
    assert fixed_results['numpy1_checkpoint'] == dict(history=[0.25], scalar=7)


def test_mmdet_base_config_values(fixed_results: Dict[str, dict]) -> None:
    assert fixed_results['mmdet_base_config'] == dict(
        default_scope='mmdet', checkpoint_hook='CheckpointHook', log_level='WARNING')


def test_stdlib_import_config_values(fixed_results: Dict[str, dict]) -> None:
    assert fixed_results['stdlib_import_config'] == dict(lr=0.01, work_dir='work_dirs/demo')


def test_cpu_distributed_values(fixed_results: Dict[str, dict]) -> None:
    assert fixed_results['dist_init'] == dict(backend='gloo', world_size=1)
    assert fixed_results['ddp_wrap'] == dict(loss_keys=['loss'], weights_changed=True)


def test_cpu_amp_values(fixed_results: Dict[str, dict]) -> None:
    assert fixed_results['cpu_amp'] == dict(
        dtype='torch.bfloat16', weights_changed=True,
        float16_error="mixed precision on the CPU runs in bfloat16, got dtype='float16'")


class HistoryBufferAttribute:
    """Pickles as ``getattr(HistoryBuffer, name)``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self) -> tuple:
        from mmengine.logging import HistoryBuffer

        return getattr, (HistoryBuffer, self.name)


def test_stored_configs_are_refused_by_name(fixed_results: Dict[str, dict]) -> None:
    resume = fixed_results['stored_config_resume']['refusal']
    assert resume.startswith('UnsafeStoredConfigError: refusing the config stored in checkpoint ')
    assert 'planted.pth: line 1' in resume and 'is a Call expression' in resume
    inferencer = fixed_results['stored_config_inferencer']
    assert 'UnsafeStoredConfigError' in inferencer['code']
    assert "type='subprocess.run' is neither a registered name" in inferencer['dotted_type']


def test_built_config_values_print_as_dotted_paths(fixed_results: Dict[str, dict]) -> None:
    assert fixed_results['built_config_values'] == dict(
        keys=['param_scheduler'], type='mmengine.optim.scheduler.lr_scheduler.LinearLR')


def test_pickled_code_is_refused_by_torch(fixed_results: Dict[str, dict]) -> None:
    refusal = fixed_results['pickled_code_checkpoint']['refusal']
    assert refusal.startswith('UnpicklingError: Weights only load failed'), refusal


def test_pickled_code_by_url_is_refused_and_tensors_load(fixed_results: Dict[str, dict]) -> None:
    result = fixed_results['pickled_code_url']
    assert result['refusal'].startswith('UnpicklingError: Weights only load failed')
    assert result['plain_loaded']


def test_checkpoint_allow_list_resolves_only_statistics(tmp_path: Path) -> None:
    """The ``getattr`` stand-in resolves HistoryBuffer statistics and nothing else."""
    from mmengine.logging import HistoryBuffer

    path = tmp_path / 'statistics.pth'
    torch.save(dict(method=HistoryBufferAttribute('mean')), path)
    assert torch.load(path)['method'] is HistoryBuffer.mean
    torch.save(dict(method=HistoryBufferAttribute('__init__')), path)
    with pytest.raises(pickle.UnpicklingError, match='allows getattr only for HistoryBuffer'):
        torch.load(path)


def test_apply_compat_fixes_is_idempotent() -> None:
    before = (config_module._is_builtin_module, config_module.get_installed_path,
              config_module.Config.fromstring)
    assert apply_compat_fixes() is applied_fixes
    assert (config_module._is_builtin_module, config_module.get_installed_path,
            config_module.Config.fromstring) == before


def test_installed_path_of_an_editable_install() -> None:
    """``get_installed_path`` finds a package installed in editable mode (this checkout is), so
    pure-Python configs can ``from mmdet_centermask.configs... import *`` under ``read_base``."""
    from mmengine.utils import package_utils

    assert package_utils.get_installed_path('mmdet-centermask') == str(
        Path(mmdet_centermask.__file__).parent)
    assert package_utils.get_installed_path('mmdet') == str(Path(
        __import__('mmdet').__file__).parent)
