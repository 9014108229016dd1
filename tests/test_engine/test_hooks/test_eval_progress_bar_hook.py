"""EvalProgressBarHook draws mmengine's progress bar over the batches of val and test runs."""
from types import SimpleNamespace

import pytest
from mmengine.hooks import LoggerHook

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
    assert capsys.readouterr().out == ''  # the last batch ended the line already
    getattr(hook, f'after_{stage}_iter')(runner, 3)  # a later run without before_*: no output
    assert capsys.readouterr().out == ''


def test_bar_line_ends_where_the_logger_logs(capsys):
    """The LoggerHook logs after every 2nd batch: the bar's line ends there, not elsewhere."""
    hook = HOOKS.build(dict(type='EvalProgressBarHook'))
    runner = SimpleNamespace(val_dataloader=[object()] * 5, hooks=[LoggerHook(interval=2)])
    hook.before_val_epoch(runner)
    capsys.readouterr()
    endings = []
    for i in range(5):
        hook.after_val_iter(runner, i)
        endings.append(capsys.readouterr().out.endswith('\n'))
    # after batches 2 and 4 the logger prints; after batch 5 the evaluator does
    assert endings == [False, True, False, True, True]
