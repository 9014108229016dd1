"""What the package carries for mmdet users: ``.mim/`` (classic configs, tools, demo, model
index) in the source tree (links) and in the wheel (copies), and ``mmdet_centermask::`` bases."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config

from mmdet.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
MIM = ROOT / 'mmdet_centermask' / '.mim'
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


@pytest.mark.slow
def test_wheel_carries_every_config_tool_and_the_model_index(tmp_path: Path):
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                    '--no-build-isolation', '-w', str(tmp_path), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    wheel, = tmp_path.glob('mmdet_centermask-*.whl')
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
