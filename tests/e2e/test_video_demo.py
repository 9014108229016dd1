"""``demo/video_demo.py`` names a video it cannot open. Annotating a clip (every frame, the clip's
frame count, size and rate kept) runs from the installed wheel in
``tests/e2e/test_installed_wheel.py``."""
import sys
from pathlib import Path

from mmdet_centermask.testing import REPO_ROOT, run_tool

CONFIG = 'centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py'


def test_video_demo_names_a_missing_file(tmp_path: Path):
    output = run_tool([sys.executable, str(REPO_ROOT / 'demo' / 'video_demo.py'),
                       str(tmp_path / 'nothing.mp4'), str(REPO_ROOT / 'configs' / CONFIG),
                       'x.pth', '--out', 'y.mp4'], cwd=tmp_path, check=False)
    assert 'cannot open the video file' in output and '(no such file)' in output
