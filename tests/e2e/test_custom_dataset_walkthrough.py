"""The README's custom-dataset walkthrough, both files exactly as the README writes them: each
trains two iterations and is tested on a small COCO-format dataset of its own classes, the classic
one under our ``tools/train.py`` and ``tools/test.py``, the pure-Python one from outside the
repository under mmdet's own (which read its ``mmdet_centermask.configs`` base before anything of
ours is imported). A config that forgets one head's class count is stopped at build time, as the
README says."""
import ast
import json
import sys
from pathlib import Path

import mmdet
import numpy as np
import pytest
import torch
from mmdet_centermask.testing import REPO_ROOT, WALKTHROUGH_OPTIONS, walkthrough_config, run_tool, write_my_dataset
from mmengine.config import Config

from mmdet.registry import MODELS

CLASSIC_FILE = 'configs/my_dataset/centermask-lite_my-dataset.py'
PURE_FILE = 'my_centermask_lite.py'
OUR_TOOLS = REPO_ROOT / 'tools'
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'


def train_and_test(config: Path, cwd: Path, tools: Path) -> dict:
    """Train two iterations and test the last checkpoint with the ``train.py`` and ``test.py`` of
    ``tools``; the metrics of the test."""
    work_dir = cwd / 'work_dirs' / 'my_dataset'
    run_tool([sys.executable, str(tools / 'train.py'), str(config), '--work-dir',
              str(work_dir), '--cfg-options', *WALKTHROUGH_OPTIONS], cwd=cwd)
    output = run_tool([sys.executable, str(tools / 'test.py'), str(config),
                       str(work_dir / 'iter_2.pth'), '--work-dir', str(work_dir / 'test'),
                       '--cfg-options', *WALKTHROUGH_OPTIONS], cwd=cwd)
    assert 'coco/segm_mAP' in output
    metrics_file, = (work_dir / 'test').glob('*/*.json')
    return json.loads(metrics_file.read_text())


def write_walkthrough(style: str, root: Path) -> Path:
    """The dataset and the README's config of ``style`` (``'classic'``: in ``configs/my_dataset/``
    of a clone, its ``_base_`` is ``../centermask/...``; ``'pure'``: anywhere)."""
    write_my_dataset(root)
    if style == 'classic':
        (root / 'configs').mkdir()
        for folder in (REPO_ROOT / 'configs').iterdir():
            (root / 'configs' / folder.name).symlink_to(folder)
    config = root / (CLASSIC_FILE if style == 'classic' else PURE_FILE)
    config.parent.mkdir(exist_ok=True)
    config.write_text(walkthrough_config(f'# {config.relative_to(root)} '))
    return config


def test_classic_walkthrough_config_trains_and_tests(tmp_path: Path):
    metrics = train_and_test(write_walkthrough('classic', tmp_path), tmp_path, OUR_TOOLS)
    assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0 and 0.0 <= metrics['coco/bbox_mAP'] <= 1.0


def test_pure_python_walkthrough_config_trains_and_tests_under_mmdets_tools(tmp_path: Path):
    metrics = train_and_test(write_walkthrough('pure', tmp_path), tmp_path, MMDET_TOOLS)
    assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0 and 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    scalars, = (tmp_path / 'work_dirs' / 'my_dataset').glob('*/vis_data/scalars.json')
    losses = [json.loads(line) for line in scalars.read_text().splitlines()]
    losses = [r for r in losses if 'loss' in r]
    assert [r['step'] for r in losses] == [1, 2]
    assert all(np.isfinite(r['loss_mask']) and np.isfinite(r['loss_mask_iou']) for r in losses)
    # mmdet's own log analysis runs on it (seaborn, from the set-up's analysis extra); its
    # default --style 'dark' is seaborn's, which onedl-mmdetection 3.5.1 hands to matplotlib
    curve = tmp_path / 'loss.png'
    analyze_logs = MMDET_TOOLS / 'analysis_tools' / 'analyze_logs.py'
    style = 'seaborn-v0_8-dark' if 'plt.style.use' in analyze_logs.read_text() else 'dark'
    run_tool([sys.executable, str(analyze_logs), 'plot_curve', str(scalars), '--keys', 'loss',
              'loss_mask', '--style', style, '--out', str(curve)], cwd=tmp_path, MPLBACKEND='Agg')
    assert curve.stat().st_size > 0
    # the config the Runner dumped (types as dotted paths) builds the model of the checkpoint
    dumped = Config.fromfile(tmp_path / 'work_dirs' / 'my_dataset' / PURE_FILE)
    assert dumped.model.type == 'mmdet_centermask.models.CenterMask'
    assert dumped.model.bbox_head.num_classes == 2
    model = MODELS.build(dumped.model)
    checkpoint = torch.load(tmp_path / 'work_dirs' / 'my_dataset' / 'iter_2.pth',
                            map_location='cpu')
    model.load_state_dict(checkpoint['state_dict'], strict=True)


@pytest.mark.parametrize('style', ['classic', 'pure'])
def test_mmdets_config_tools_read_the_walkthrough_config(style: str, tmp_path: Path):
    """mmdet's ``print_config.py`` (the pure style needs compat fix ``built_config_values``),
    ``browse_dataset.py`` (``init_default_scope`` of the config's scope) and, on the pure style
    (the classic one: the installed-wheel test), ``get_flops.py``."""
    config = write_walkthrough(style, tmp_path)
    output = run_tool([sys.executable, str(MMDET_TOOLS / 'misc' / 'print_config.py'),
                       str(config)], cwd=tmp_path)
    text = output.split('Config:\n', 1)[1]
    ast.parse(text)
    printed = Config.fromstring(text, '.py')  # types as registered names or dotted paths
    assert printed.model.roi_head.mask_iou_head.num_classes == 2
    assert printed.train_dataloader.dataset.metainfo.classes == ('square', 'bar')
    assert printed.param_scheduler[0].end == 501

    run_tool([sys.executable, str(MMDET_TOOLS / 'analysis_tools' / 'browse_dataset.py'),
              str(config), '--not-show', '--output-dir', str(tmp_path / 'browsed')], cwd=tmp_path)
    images = json.loads((tmp_path / 'data' / 'my_dataset' / 'annotations' /
                         'train.json').read_text())['images']
    assert sorted(p.name for p in (tmp_path / 'browsed').iterdir()) == sorted(
        Path(image['file_name']).name for image in images)
    if style == 'pure':
        output = run_tool([sys.executable, str(MMDET_TOOLS / 'analysis_tools' / 'get_flops.py'),
                           str(config), '--num-images', '1', '--cfg-options',
                           'model.backbone.init_cfg=None'], cwd=tmp_path)
        assert float(output.split('Flops: ')[1].split('G')[0]) > 1


def test_forgetting_one_head_stops_the_build(tmp_path: Path):
    text = walkthrough_config(f'# {PURE_FILE} ')
    forgotten = 'model.roi_head.mask_iou_head.num_classes = num_classes\n'
    assert forgotten in text
    config = tmp_path / PURE_FILE
    config.write_text(text.replace(forgotten, ''))
    cfg = Config.fromfile(config)
    with pytest.raises(ValueError, match='heads disagree on num_classes.*mask_iou_head=80'):
        MODELS.build(cfg.model)
