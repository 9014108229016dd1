"""``import mmdet_centermask`` changes nothing of mmengine or mmdet; ``mmdet_centermask.compat``
applies the fixes the stack needs, once, and names them in one log line. Each is checked in a
fresh interpreter; the four start side by side."""
import json
import sys
from typing import Dict

import pytest
from mmdet_centermask.testing import ToolRun

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


LOGGED_ONCE = ('import mmdet_centermask.compat as compat; import importlib; '
               'importlib.reload(importlib.import_module("mmdet_centermask")); '
               'from mmdet_centermask.compat import CompatFixesHook; CompatFixesHook(); '
               'print("APPLIED", ",".join(compat.applied_fixes))')
NOTHING_APPLIED = 'import mmdet_centermask.compat as compat; print("APPLIED", compat.applied_fixes)'


@pytest.fixture(scope='module')
def runs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, ToolRun]:
    """The module's fresh interpreters, side by side: ``python -c code args``, without
    ``MMDET_CENTERMASK_NO_COMPAT`` unless the run sets it."""
    cwd = tmp_path_factory.mktemp('opt_in')
    commands = {
        'plugin': ([SNAPSHOT, 'mmdet_centermask'], ''),
        'compat': ([SNAPSHOT, 'mmdet_centermask.compat'], ''),
        'logged_once': ([LOGGED_ONCE], ''),
        'no_compat': ([NOTHING_APPLIED], '1'),
    }
    return {name: ToolRun([sys.executable, '-c', *args], cwd=cwd, **{NO_COMPAT_ENV: no_compat})
            for name, (args, no_compat) in commands.items()}


def changed_by_import(run: ToolRun) -> list:
    return json.loads(run.output().strip().splitlines()[-1])


def test_importing_the_plugin_changes_nothing_of_mmengine_or_mmdet(
        runs: Dict[str, ToolRun]) -> None:
    assert changed_by_import(runs['plugin']) == []


def test_importing_compat_changes_what_its_fixes_replace(runs: Dict[str, ToolRun]) -> None:
    changed = changed_by_import(runs['compat'])
    # always applied (every release needs them): the stored-config reader and the loader
    assert 'mmengine.config.config.Config.fromstring' in changed
    assert 'mmengine.runner.checkpoint.CheckpointLoader.load_checkpoint' in changed
    assert 'mmengine.runner.runner.Runner.build_dataloader' in changed



def test_the_applied_fixes_are_logged_once(runs: Dict[str, ToolRun]) -> None:
    output = runs['logged_once'].output()
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


def test_no_compat_environment_applies_nothing(runs: Dict[str, ToolRun]) -> None:
    output = runs['no_compat'].output()
    assert 'APPLIED []' in output
    assert f'{NO_COMPAT_ENV} is set, no fix applied' in output
