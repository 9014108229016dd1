"""The README's custom-dataset walkthrough, both files exactly as the README writes them: each
trains two iterations and is tested on a small COCO-format dataset of its own classes (the tools of
both run side by side, one thread each), the classic one under our ``tools/train.py`` and
``tools/test.py``, the pure-Python one from outside the repository under mmdet's own (which read
its ``mmdet_centermask.configs`` base before anything of ours is imported). A config that forgets
one head's class count is stopped at build time, as the README says."""
import ast
import json
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import mmdet
import numpy as np
import pytest
import torch
from mmdet_centermask.testing import (REPO_ROOT, WALKTHROUGH_OPTIONS, ToolRun, walkthrough_config,
                                      write_my_dataset)
from mmengine.config import Config

from mmdet.registry import MODELS

CLASSIC_FILE = 'configs/my_dataset/centermask-lite_my-dataset.py'
PURE_FILE = 'my_centermask_lite.py'
OUR_TOOLS = REPO_ROOT / 'tools'
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'
WORK_DIR = Path('work_dirs') / 'my_dataset'
Walkthrough = Tuple[Path, Path, Dict[str, ToolRun]]  # folder, config, runs by name


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


def mmdet_tool(path: str, config: Path, *args: str) -> List[str]:
    """The command line of mmdet's ``tools/<path>`` on ``config``."""
    return [sys.executable, str(MMDET_TOOLS / path), str(config), *args]


@pytest.fixture(scope='module')
def walkthroughs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Walkthrough]:
    """Per style, its folder, its config and its runs, started side by side (one thread each):
    the training of two iterations (under our tools for the classic style, mmdet's for the pure
    one), and mmdet's ``print_config.py``, ``browse_dataset.py`` and, on the pure style (the
    classic one: the installed-wheel test), ``get_flops.py``."""
    walkthroughs = {}
    for style, tools in (('classic', OUR_TOOLS), ('pure', MMDET_TOOLS)):
        root = tmp_path_factory.mktemp(style)
        config = write_walkthrough(style, root)
        runs = {
            'train': ToolRun([sys.executable, str(tools / 'train.py'), str(config), '--work-dir',
                              str(root / WORK_DIR), '--cfg-options', *WALKTHROUGH_OPTIONS],
                             cwd=root),
            'print_config': ToolRun(mmdet_tool('misc/print_config.py', config), cwd=root),
            'browse_dataset': ToolRun(mmdet_tool('analysis_tools/browse_dataset.py', config,
                                                 '--not-show', '--output-dir', 'browsed'),
                                      cwd=root),
        }
        if style == 'pure':
            runs['get_flops'] = ToolRun(mmdet_tool('analysis_tools/get_flops.py', config,
                                                   '--num-images', '1', '--cfg-options',
                                                   'model.backbone.init_cfg=None'), cwd=root)
        walkthroughs[style] = root, config, runs
    return walkthroughs


def trained_and_tested(walkthrough: Walkthrough, tools: Path) -> dict:
    """Wait for the walkthrough's training, test its last checkpoint with the ``test.py`` of
    ``tools``; the metrics of the test."""
    root, config, runs = walkthrough
    runs['train'].output()
    work_dir = root / WORK_DIR
    output = ToolRun([sys.executable, str(tools / 'test.py'), str(config),
                      str(work_dir / 'iter_2.pth'), '--work-dir', str(work_dir / 'test'),
                      '--cfg-options', *WALKTHROUGH_OPTIONS], cwd=root).output()
    assert 'coco/segm_mAP' in output
    metrics_file, = (work_dir / 'test').glob('*/*.json')
    return json.loads(metrics_file.read_text())


def test_classic_walkthrough_config_trains_and_tests(walkthroughs: Dict[str, Walkthrough]):
    metrics = trained_and_tested(walkthroughs['classic'], OUR_TOOLS)
    assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0 and 0.0 <= metrics['coco/bbox_mAP'] <= 1.0


def test_pure_python_walkthrough_config_trains_and_tests_under_mmdets_tools(
        walkthroughs: Dict[str, Walkthrough]):
    root, _, runs = walkthroughs['pure']
    runs['train'].output()
    scalars, = (root / WORK_DIR).glob('*/vis_data/scalars.json')
    # mmdet's own log analysis runs on it (seaborn, from the set-up's analysis extra), beside the
    # test; its default --style 'dark' is seaborn's, which onedl-mmdetection 3.5.1 hands to
    # matplotlib
    curve = root / 'loss.png'
    analyze_logs = MMDET_TOOLS / 'analysis_tools' / 'analyze_logs.py'
    style = 'seaborn-v0_8-dark' if 'plt.style.use' in analyze_logs.read_text() else 'dark'
    plot = ToolRun([sys.executable, str(analyze_logs), 'plot_curve', str(scalars), '--keys',
                    'loss', 'loss_mask', '--style', style, '--out', str(curve)], cwd=root,
                   MPLBACKEND='Agg')
    metrics = trained_and_tested(walkthroughs['pure'], MMDET_TOOLS)
    assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0 and 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    losses = [json.loads(line) for line in scalars.read_text().splitlines()]
    losses = [r for r in losses if 'loss' in r]
    assert [r['step'] for r in losses] == [1, 2]
    assert all(np.isfinite(r['loss_mask']) and np.isfinite(r['loss_mask_iou']) for r in losses)
    plot.output()
    assert curve.stat().st_size > 0
    # the config the Runner dumped (types as dotted paths) builds the model of the checkpoint
    dumped = Config.fromfile(root / WORK_DIR / PURE_FILE)
    assert dumped.model.type == 'mmdet_centermask.models.CenterMask'
    assert dumped.model.bbox_head.num_classes == 2
    model = MODELS.build(dumped.model)
    checkpoint = torch.load(root / WORK_DIR / 'iter_2.pth', map_location='cpu')
    model.load_state_dict(checkpoint['state_dict'], strict=True)


@pytest.mark.parametrize('style', ['classic', 'pure'])
def test_mmdets_config_tools_read_the_walkthrough_config(style: str,
                                                         walkthroughs: Dict[str, Walkthrough]):
    """mmdet's ``print_config.py`` (the pure style needs compat fix ``built_config_values``),
    ``browse_dataset.py`` (``init_default_scope`` of the config's scope) and ``get_flops.py``."""
    root, _, runs = walkthroughs[style]
    text = runs['print_config'].output().split('Config:\n', 1)[1]
    ast.parse(text)
    printed = Config.fromstring(text, '.py')  # types as registered names or dotted paths
    assert printed.model.roi_head.mask_iou_head.num_classes == 2
    assert printed.train_dataloader.dataset.metainfo.classes == ('square', 'bar')
    assert printed.param_scheduler[0].end == 501

    runs['browse_dataset'].output()
    images = json.loads((root / 'data' / 'my_dataset' / 'annotations' /
                         'train.json').read_text())['images']
    assert sorted(p.name for p in (root / 'browsed').iterdir()) == sorted(
        Path(image['file_name']).name for image in images)
    if style == 'pure':
        output = runs['get_flops'].output()
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
