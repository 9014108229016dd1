"""``mmdet_centermask.testing.tools``: tools run in subprocesses side by side, their output, their
failures and their time limit (with ``python -c`` in place of a tool, so no torch start-up)."""
import sys
import time
from pathlib import Path

import pytest
from mmdet_centermask.testing import ToolRun, run_tool, tool_env


def python(code: str) -> list:
    return [sys.executable, '-c', code]


def test_runs_started_one_after_the_other_proceed_side_by_side(tmp_path: Path) -> None:
    # each run writes when it starts, then waits 1 s: run side by side, both start before either
    # ends; one after the other, the second would start after the first's end
    code = ('import sys, time; print(time.time()); sys.stdout.flush(); time.sleep(1); '
            'print(time.time())')
    first, second = ToolRun(python(code), cwd=tmp_path), ToolRun(python(code), cwd=tmp_path)
    (first_start, first_end), (second_start, _) = (
        map(float, run.output().split()) for run in (first, second))
    assert second_start < first_end
    assert first_end - first_start >= 1


def test_output_is_stdout_then_stderr_with_universal_newlines(tmp_path: Path) -> None:
    code = 'import sys; sys.stderr.write("err\\r\\n"); sys.stdout.write("bar 1/2\\rbar 2/2\\n")'
    assert run_tool(python(code), cwd=tmp_path) == 'bar 1/2\nbar 2/2\nerr\n'


def test_a_failing_tool_fails_the_test_with_its_output(tmp_path: Path) -> None:
    run = ToolRun(python('import sys; print("what went wrong"); sys.exit(3)'), cwd=tmp_path)
    with pytest.raises(AssertionError, match='what went wrong'):
        run.output()
    assert run.returncode == 3
    assert 'what went wrong' in run.output(check=False)


def test_a_tool_past_its_time_is_killed_with_its_children(tmp_path: Path) -> None:
    # a child that outlives its parent's kill would keep writing; the session's kill ends it
    code = ('import subprocess, sys, time; subprocess.Popen([sys.executable, "-c", "import time; '
            'time.sleep(1.5); open(\'late\', \'w\')"]); print("started", flush=True); '
            'time.sleep(60)')
    begin = time.monotonic()
    with pytest.raises(AssertionError, match='did not end in time:\nstarted'):
        ToolRun(python(code), cwd=tmp_path, timeout=1).output()
    assert time.monotonic() - begin < 10
    time.sleep(1)
    assert not (tmp_path / 'late').exists()


def test_environment_has_one_thread_this_python_and_the_given_variables() -> None:
    env = tool_env(PORT='1234')
    assert (env['OMP_NUM_THREADS'], env['PYTHON'], env['PORT']) == ('1', sys.executable, '1234')
