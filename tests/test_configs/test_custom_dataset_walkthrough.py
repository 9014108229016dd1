"""The README's custom-dataset walkthrough, both files exactly as the README writes them: each
trains two iterations and is tested on a small COCO-format dataset of its own classes, the classic
one under our ``tools/train.py`` and ``tools/test.py``, the pure-Python one from outside the
repository under mmdet's own (which read its ``mmdet_centermask.configs`` base before anything of
ours is imported). A config that forgets one head's class count is stopped at build time, as the
README says."""
import json
import re
import shutil
import sys
from pathlib import Path

import mmdet
import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, TINY_COCO_IMAGE_SIZE, run_tool, write_tiny_coco
from mmengine.config import Config

from mmdet.registry import MODELS

README = REPO_ROOT / 'README.md'
CLASSIC_FILE = 'configs/my_dataset/centermask-lite_my-dataset.py'
PURE_FILE = 'my_centermask_lite.py'
SIZE = TINY_COCO_IMAGE_SIZE
OUR_TOOLS = REPO_ROOT / 'tools'
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'


def readme_config(first_line_start: str) -> str:
    """The README's python block whose first line starts with ``first_line_start``."""
    blocks = re.findall(r'```python\n(.*?)```', README.read_text(encoding='utf-8'), re.S)
    block, = [b for b in blocks if b.startswith(first_line_start)]
    return block


def write_dataset(root: Path) -> None:
    """The tiny COCO dataset (squares and bars) as data/my_dataset/ with train and val jsons."""
    write_tiny_coco(root / 'data' / 'my_dataset')
    annotations = root / 'data' / 'my_dataset' / 'annotations'
    for split in ('train', 'val'):
        shutil.copy(annotations / 'instances.json', annotations / f'{split}.json')


# what only the test changes: no ImageNet weights offline, two iterations, small images, an
# untrained model's detections kept (seeded, so that every image has some for the metrics)
TEST_OPTIONS = [
    'model.backbone.init_cfg=None', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
    'model.test_cfg.bbox.score_thr=0.0', 'model.test_cfg.bbox.min_bbox_size=0',
    'model.test_cfg.bbox.max_per_img=10', 'model.train_cfg.bbox.max_per_img=20',
    'randomness.seed=0', f'train_dataloader.dataset.pipeline.2.scales=[({SIZE},{SIZE})]',
    f'val_dataloader.dataset.pipeline.1.scale=({SIZE},{SIZE})',
    f'test_dataloader.dataset.pipeline.1.scale=({SIZE},{SIZE})',
] + [f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
     for key in ('num_workers=0', 'persistent_workers=False', 'batch_size=2')]


def train_and_test(config: Path, cwd: Path, tools: Path) -> dict:
    """Train two iterations and test the last checkpoint with the ``train.py`` and ``test.py`` of
    ``tools``; the metrics of the test."""
    work_dir = cwd / 'work_dirs' / 'my_dataset'
    run_tool([sys.executable, str(tools / 'train.py'), str(config), '--work-dir',
              str(work_dir), '--cfg-options', *TEST_OPTIONS], cwd=cwd)
    output = run_tool([sys.executable, str(tools / 'test.py'), str(config),
                       str(work_dir / 'iter_2.pth'), '--work-dir', str(work_dir / 'test'),
                       '--cfg-options', *TEST_OPTIONS], cwd=cwd)
    assert 'coco/segm_mAP' in output
    metrics_file, = (work_dir / 'test').glob('*/*.json')
    return json.loads(metrics_file.read_text())


@pytest.mark.slow
def test_classic_walkthrough_config_trains_and_tests(tmp_path: Path):
    write_dataset(tmp_path)
    # the config lives in configs/my_dataset/ of a clone: its _base_ is ../centermask/...
    (tmp_path / 'configs').mkdir()
    for folder in (REPO_ROOT / 'configs').iterdir():
        (tmp_path / 'configs' / folder.name).symlink_to(folder)
    config = tmp_path / CLASSIC_FILE
    config.parent.mkdir()
    config.write_text(readme_config(f'# {CLASSIC_FILE} '))
    metrics = train_and_test(config, tmp_path, OUR_TOOLS)
    assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0 and 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    # mmdet's own FLOP counter on it (VoVNet's module names hold no '/', which it splits on)
    get_flops = MMDET_TOOLS / 'analysis_tools' / 'get_flops.py'
    output = run_tool([sys.executable, str(get_flops), str(config), '--num-images', '1',
                       '--cfg-options', 'model.backbone.init_cfg=None'], cwd=tmp_path)
    flops = re.search(r'Flops: ([\d.]+)G', output)
    assert flops and float(flops[1]) > 1, output[-2000:]


@pytest.mark.slow
def test_pure_python_walkthrough_config_trains_and_tests_under_mmdets_tools(tmp_path: Path):
    write_dataset(tmp_path)
    config = tmp_path / PURE_FILE
    config.write_text(readme_config(f'# {PURE_FILE} '))
    metrics = train_and_test(config, tmp_path, MMDET_TOOLS)
    assert 0.0 <= metrics['coco/segm_mAP'] <= 1.0 and 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    scalars, = (tmp_path / 'work_dirs' / 'my_dataset').glob('*/vis_data/scalars.json')
    losses = [json.loads(line) for line in scalars.read_text().splitlines()]
    losses = [r for r in losses if 'loss' in r]
    assert [r['step'] for r in losses] == [1, 2]
    assert all(np.isfinite(r['loss_mask']) and np.isfinite(r['loss_mask_iou']) for r in losses)
    # mmdet's own log analysis runs on it (seaborn, from the set-up's analysis extra)
    curve = tmp_path / 'loss.png'
    analyze_logs = MMDET_TOOLS / 'analysis_tools' / 'analyze_logs.py'
    run_tool([sys.executable, str(analyze_logs), 'plot_curve', str(scalars), '--keys', 'loss',
              'loss_mask', '--out', str(curve)], cwd=tmp_path, MPLBACKEND='Agg')
    assert curve.stat().st_size > 0
    # the config the Runner dumped (types as dotted paths) builds the model of the checkpoint
    dumped = Config.fromfile(tmp_path / 'work_dirs' / 'my_dataset' / PURE_FILE)
    assert dumped.model.type == 'mmdet_centermask.models.CenterMask'
    assert dumped.model.bbox_head.num_classes == 2
    model = MODELS.build(dumped.model)
    checkpoint = torch.load(tmp_path / 'work_dirs' / 'my_dataset' / 'iter_2.pth',
                            map_location='cpu')
    model.load_state_dict(checkpoint['state_dict'], strict=True)


def test_forgetting_one_head_stops_the_build(tmp_path: Path):
    text = readme_config(f'# {PURE_FILE} ')
    forgotten = 'model.roi_head.mask_iou_head.num_classes = num_classes\n'
    assert forgotten in text
    config = tmp_path / PURE_FILE
    config.write_text(text.replace(forgotten, ''))
    cfg = Config.fromfile(config)
    with pytest.raises(ValueError, match='heads disagree on num_classes.*mask_iou_head=80'):
        MODELS.build(cfg.model)
