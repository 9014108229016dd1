"""``import mmdet_centermask`` changes nothing of mmengine or mmdet; ``mmdet_centermask.compat``
applies the fixes the stack needs, once, and names them in one log line."""
import json
import os
import subprocess
import sys

from mmdet_centermask.compat import FIXES, NO_COMPAT_ENV

# Fingerprints every attribute of every loaded mmengine / mmdet module and of the classes they
# define, and torch's weights-only allow-list, before and after importing the plugin.
SNAPSHOT = r'''
import importlib, json, sys
import torch
import mmengine.config, mmengine.runner, mmengine.infer, mmengine.optim, mmengine.dist
import mmengine.model, mmengine.runner.checkpoint
import mmdet.apis, mmdet.datasets, mmdet.engine, mmdet.evaluation, mmdet.models, mmdet.utils

def owned(name):
    return name.split('.')[0] in ('mmengine', 'mmdet')

def snapshot():
    state = {}
    for name, module in list(sys.modules.items()):
        if module is None or not owned(name):
            continue
        for attribute, value in list(vars(module).items()):
            state[f'{name}.{attribute}'] = repr(id(value))
            if isinstance(value, type) and value.__module__ == name:
                for member, inner in vars(value).items():
                    state[f'{name}.{attribute}.{member}'] = repr(id(inner))
    state['MODULE2PACKAGE'] = repr(sorted(mmengine.config.utils.MODULE2PACKAGE.items()))
    state['safe_globals'] = repr(torch.serialization.get_safe_globals())
    return state

before = snapshot()
importlib.import_module(sys.argv[1])
after = snapshot()
print(json.dumps(sorted(key for key in before if after.get(key) != before[key])))
'''


def run_python(code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -c code args`` without ``MMDET_CENTERMASK_NO_COMPAT`` unless ``env`` sets it."""
    environment = {key: value for key, value in os.environ.items() if key != NO_COMPAT_ENV}
    return subprocess.run([sys.executable, '-c', code, *args], env={**environment, **env},
                          capture_output=True, text=True, timeout=300)


def changed_by_import(module: str) -> list:
    result = run_python(SNAPSHOT, module)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_plugin_changes_nothing_of_mmengine_or_mmdet() -> None:
    assert changed_by_import('mmdet_centermask') == []


def test_importing_compat_changes_what_its_fixes_replace() -> None:
    changed = changed_by_import('mmdet_centermask.compat')
    # always applied (every release needs them): the stored-config reader and the loader
    assert 'mmengine.config.config.Config.fromstring' in changed
    assert 'mmengine.runner.checkpoint.CheckpointLoader.load_checkpoint' in changed
    assert 'mmengine.runner.runner.Runner.build_dataloader' in changed



def test_the_applied_fixes_are_logged_once() -> None:
    result = run_python(
        'import mmdet_centermask.compat as compat; import importlib; '
        'importlib.reload(importlib.import_module("mmdet_centermask")); '
        'from mmdet_centermask.compat import CompatFixesHook; CompatFixesHook(); '
        'print("APPLIED", ",".join(compat.applied_fixes))')
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if 'mmdet_centermask.compat: applied' in line]
    assert len(lines) == 1, output
    applied = output.split('APPLIED ')[1].split()[0].split(',')
    # in the order of FIXES, each named in the line, the others listed as not needed
    names = [fix.name for fix in FIXES]
    assert applied == [name for name in names if name in applied]
    not_needed = lines[0].split('not needed on this stack: ')[1]
    for name in names:
        assert (name in lines[0].split(';')[0]) == (name in applied)
        assert (name in not_needed) == (name not in applied)


def test_no_compat_environment_applies_nothing() -> None:
    result = run_python(
        'import mmdet_centermask.compat as compat; print("APPLIED", compat.applied_fixes)',
        **{NO_COMPAT_ENV: '1'})
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'APPLIED []' in result.stdout
    assert f'{NO_COMPAT_ENV} is set, no fix applied' in result.stdout + result.stderr
