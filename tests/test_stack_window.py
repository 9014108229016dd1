"""``import mmdet_centermask`` fails with a message naming what is installed and what to install
where mmengine / mmcv / mmdet is outside the supported window or installed twice."""
import subprocess
import sys
from pathlib import Path

import pytest

from mmdet_centermask import stack_window


def fake_distribution(site: Path, name: str, version: str) -> None:
    """Metadata of distribution ``name`` at ``version``, first on ``sys.path``."""
    info = site / f'{name.replace("-", "_")}-{version}.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')


def import_error(site: Path) -> str:
    result = subprocess.run([sys.executable, '-c', 'import mmdet_centermask'],
                            env={'PYTHONPATH': str(site), 'PATH': '/usr/bin:/bin'},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    return result.stderr.strip().splitlines()[-1]


def test_a_release_outside_the_window_fails_at_import(tmp_path: Path) -> None:
    name = stack_window.installed_distributions('mmdet')[0][0]  # mmdet or onedl-mmdetection
    fake_distribution(tmp_path, name, '3.2.0')
    message = import_error(tmp_path)
    assert message.startswith(f'mmdet_centermask.stack_window.UnsupportedStackError: {name} 3.2.0 '
                              'is installed; mmdet_centermask needs mmdet>=3.3.0,<3.6.0 '
                              '(mmdet or onedl-mmdetection)')
    assert "pip install 'mmdet-centermask[openmmlab]'" in message


def test_two_distributions_of_one_package_fail_at_import(tmp_path: Path) -> None:
    installed = stack_window.installed_distributions('mmengine')
    other = 'onedl-mmengine' if installed[0][0] == 'mmengine' else 'mmengine'
    fake_distribution(tmp_path, other, '0.10.9')
    message = import_error(tmp_path)
    assert 'mmengine is installed by two distributions over each other' in message
    assert f'{other} 0.10.9' in message and f'{installed[0][0]} {installed[0][1]}' in message


def test_the_running_stack_is_inside_the_window() -> None:
    for package in stack_window.WINDOWS:
        assert stack_window.stack_problem(package) is None
        assert len(stack_window.installed_distributions(package)) == 1


def test_a_missing_package_names_both_distributions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack_window, 'installed_distributions', lambda package: [])
    monkeypatch.setattr(stack_window.importlib.util, 'find_spec', lambda package: None)
    with pytest.raises(stack_window.UnsupportedStackError,
                       match=r'mmcv is not installed; mmdet_centermask needs mmcv>=2.1.0,<2.4.0 '
                       r'\(mmcv or onedl-mmcv\)'):
        stack_window.check_stack_window()
