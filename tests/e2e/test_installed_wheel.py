"""What the package carries for mmdet users: ``.mim/`` (classic configs, tools, demo, model
index) in the source tree (links) and in the wheel (copies), and ``mmdet_centermask::`` bases.
The built wheel, installed alone (``pip install --target``, first on the path; the checkout is
not importable from the working directory), serves ``mim search``, mmdet's own ``tools/train.py``
on a classic and a pure-Python config, ``get_flops.py`` and the video demo."""
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import mmdet
import pytest
import torch
import yaml
from mmdet_centermask.testing import (CLIP_FPS, CLIP_FRAMES, CLIP_HEIGHT, CLIP_WIDTH,
                                      WALKTHROUGH_OPTIONS, ToolRun, walkthrough_config,
                                      write_clip, write_my_dataset)
from mmengine.config import Config

from mmdet.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
MIM = ROOT / 'mmdet_centermask' / '.mim'
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'
LITE = 'centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'
CLASSIC = sorted(str(p.relative_to(ROOT / 'configs')) for p in (ROOT / 'configs').rglob('*.py'))


def test_model_index_imports_every_metafile():
    index = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    assert sorted(index['Import']) == sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / 'configs').rglob('metafile.yml'))
    assert (MIM / 'model-index.yml').read_text() == (ROOT / 'model-index.yml').read_text()
    assert all((MIM / 'configs' / name).is_file() for name in CLASSIC)


def test_own_config_base_resolves_in_the_mmdet_scope(tmp_path: Path):
    config = tmp_path / 'my_lite.py'
    config.write_text(
        "_base_ = 'mmdet_centermask::centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'\n"
        "model = dict(backbone=dict(init_cfg=None), bbox_head=dict(num_classes=3),\n"
        "             roi_head=dict(mask_head=dict(num_classes=3),\n"
        "                           mask_iou_head=dict(num_classes=3)))\n")
    cfg = Config.fromfile(config)
    assert cfg.model.backbone.arch == 'V-19-slim-dw' and cfg.model.neck.out_channels == 128
    assert cfg.model._scope_ == 'mmdet'  # where our parts are registered
    assert cfg.train_cfg.max_iters == 360000 and cfg.tta_model.type == 'CenterMaskTTAModel'
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert model.bbox_head.num_classes == 3


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp('dist')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                    '--no-build-isolation', '-w', str(folder), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    wheel, = folder.glob('mmdet_centermask-*.whl')
    return wheel


@pytest.fixture(scope='module')
def installed(wheel: Path, tmp_path_factory) -> Path:
    """The wheel installed alone into a folder that goes first on ``PYTHONPATH``."""
    site = tmp_path_factory.mktemp('site')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target',
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    return site


def test_installing_the_wheel_leaves_the_stack_as_it_is(wheel: Path):
    """pip resolves the wheel against this environment's stack (OpenMMLab's or OneDL's
    distributions) and would install nothing but the plugin: mmengine, mmcv and mmdet are not
    dependencies (``import mmdet_centermask`` checks their window instead)."""
    report = subprocess.run([sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index',
                             '--quiet', '--report', '-', str(wheel)],
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]
    installs = [item['metadata']['name'] for item in json.loads(report.stdout)['install']]
    assert installs == ['mmdet-centermask']


def test_wheel_carries_every_config_tool_and_the_model_index(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    prefix = 'mmdet_centermask/.mim/'
    assert f'{prefix}model-index.yml' in names
    assert {f'{prefix}configs/{name}' for name in CLASSIC} <= names
    tools = {str(p.relative_to(ROOT)) for p in (ROOT / 'tools').rglob('*')
             if p.suffix in ('.py', '.sh')}
    assert {f'{prefix}{name}' for name in tools} <= names
    assert {f'{prefix}demo/{p.name}' for p in (ROOT / 'demo').glob('*.py')} <= names
    pure = {str(p.relative_to(ROOT)) for p in (ROOT / 'mmdet_centermask' / 'configs').rglob('*.py')}
    assert pure <= names


def test_installed_wheel_serves_mim_mmdets_tools_and_the_demo(installed: Path, tmp_path: Path):
    def start(*command: str) -> ToolRun:
        """A Python command run with the wheel first on the path, side by side with the others."""
        return ToolRun([sys.executable, *command], cwd=tmp_path, PYTHONPATH=str(installed))

    package = installed / 'mmdet_centermask'
    # the README walkthrough's two configs, the classic one starting from the wheel's zoo config
    write_my_dataset(tmp_path)
    classic = tmp_path / 'lite_classic.py'
    classic.write_text(walkthrough_config('# configs/my_dataset/').replace(
        f"'../{LITE}'", repr(str(package / '.mim' / 'configs' / LITE))))
    pure = tmp_path / 'lite_pure.py'
    pure.write_text(walkthrough_config('# my_centermask_lite.py'))
    imported = start('-c', 'import mmdet_centermask; print(mmdet_centermask.__file__)')
    searched = start('-m', 'mim', 'search', 'mmdet-centermask')
    trainings = {config: start(str(MMDET_TOOLS / 'train.py'), str(config), '--work-dir',
                               str(tmp_path / config.stem), '--cfg-options',
                               *WALKTHROUGH_OPTIONS)
                 for config in (classic, pure)}
    flops = start(str(MMDET_TOOLS / 'analysis_tools' / 'get_flops.py'), str(classic),
                  '--num-images', '1', '--cfg-options', 'model.backbone.init_cfg=None')

    # the last line: onedl-mmdetection prints 'Could not import OneDL...' when imported
    assert imported.output().strip().splitlines()[-1] == str(package / '__init__.py')
    found = re.findall(r'config id: (\S+)', searched.output())
    assert Path(LITE).stem in found and len(found) == len(set(found)) >= 14
    for config, training in trainings.items():
        output = training.output()
        assert 'Iter(train) [2/2]' in output and (tmp_path / config.stem / 'iter_2.pth').is_file()
    assert float(re.search(r'Flops: ([\d.]+)G', flops.output())[1]) > 1

    clip, annotated = tmp_path / 'clip.mp4', tmp_path / 'clip_masks.mp4'
    write_clip(clip)
    output = start(str(package / '.mim' / 'demo' / 'video_demo.py'), str(clip), str(classic),
                   str(tmp_path / 'lite_classic' / 'iter_2.pth'), '--out', str(annotated),
                   '--pred-score-thr', '0').output()
    assert f'{CLIP_FRAMES} frames written to {annotated}' in output
    capture = cv2.VideoCapture(str(annotated))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == CLIP_FRAMES
    assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) == CLIP_WIDTH
    assert capture.get(cv2.CAP_PROP_FRAME_HEIGHT) == CLIP_HEIGHT
    assert capture.get(cv2.CAP_PROP_FPS) == CLIP_FPS
    capture.release()
