"""EvalProgressBarHook draws mmengine's progress bar over the batches of val and test runs."""
from types import SimpleNamespace

import pytest

from mmdet.registry import HOOKS


@pytest.mark.parametrize('stage', ['val', 'test'])
def test_progress_bar_counts_batches(stage, capsys):
    hook = HOOKS.build(dict(type='EvalProgressBarHook'))
    runner = SimpleNamespace(**{f'{stage}_dataloader': [object()] * 3})
    getattr(hook, f'before_{stage}_epoch')(runner)
    for i in range(3):
        getattr(hook, f'after_{stage}_iter')(runner, i)
        assert f'{i + 1}/3' in capsys.readouterr().out
    getattr(hook, f'after_{stage}_epoch')(runner)
    assert capsys.readouterr().out == '\n'
    getattr(hook, f'after_{stage}_iter')(runner, 3)  # a later run without before_*: no output
    assert capsys.readouterr().out == ''
