"""``tools/train.py``, ``tools/test.py``, ``tools/dist_train.sh`` and ``dist_test.sh`` end to end on
the CPU.

A RetinaNet-R18 (``tests/data/configs``) trains for a few iterations on a toy COCO-format dataset
(``mmdet_centermask.testing.write_tiny_coco``); the tools run as subprocesses in a temporary
directory holding ``data/tiny_coco``, one thread each, side by side: the runs that need no
checkpoint start with the module, those that test or resume the trained one once it exists.
"""
import json
import pickle
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch

from mmdet_centermask.testing import (TINY_COCO_BOXES, ToolRun, free_port, logged_metrics,
                                      write_tiny_coco)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'tests' / 'data' / 'configs' / 'retinanet_r18_tiny-coco.py'
NUM_IMAGES = len(TINY_COCO_BOXES)



def scalars(run_dir: Path) -> List[Dict]:
    """The records of a run's ``vis_data/scalars.json`` (one json object a line)."""
    path, = run_dir.glob('*/vis_data/scalars.json')
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope='module')
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ``data/tiny_coco``, where the tools run."""
    root = tmp_path_factory.mktemp('tools')
    write_tiny_coco(root / 'data' / 'tiny_coco')
    return root


TRAIN = [sys.executable, str(ROOT / 'tools' / 'train.py'), str(CONFIG)]
TEST = [sys.executable, str(ROOT / 'tools' / 'test.py'), str(CONFIG)]
TWO_ITERATIONS = ['--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                  'default_hooks.checkpoint.interval=2']


@pytest.fixture(scope='module')
def untrained_runs(workspace: Path) -> Dict[str, ToolRun]:
    """The runs that start from scratch: bfloat16 on the CPU, and two processes."""
    return {
        'amp': ToolRun(TRAIN + ['--amp', '--work-dir', 'amp', *TWO_ITERATIONS], cwd=workspace),
        'dist': ToolRun(['bash', str(ROOT / 'tools' / 'dist_train.sh'), str(CONFIG), '2',
                         '--work-dir', 'dist', *TWO_ITERATIONS], cwd=workspace, timeout=180,
                        PORT=str(free_port())),
    }


@pytest.fixture(scope='module')
def trained(untrained_runs: Dict[str, ToolRun], workspace: Path) -> Path:
    """Work dir of a 3-iteration run (``--cfg-options`` shortens the config's 4)."""
    ToolRun(TRAIN + ['--cfg-options', 'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
                     'default_hooks.checkpoint.interval=3'], cwd=workspace).output()
    return workspace / 'work_dirs' / CONFIG.stem


@pytest.fixture(scope='module')
def trained_runs(trained: Path, workspace: Path) -> Dict[str, ToolRun]:
    """The runs that continue or test the trained checkpoint."""
    checkpoint = str(trained / 'iter_3.pth')
    resumed = workspace / 'resumed'
    resumed.mkdir()
    (resumed / 'iter_3.pth').symlink_to(checkpoint)
    (resumed / 'last_checkpoint').write_text(str(resumed / 'iter_3.pth'))
    return {
        'resume': ToolRun(TRAIN + ['--work-dir', str(resumed), '--resume', '--cfg-options',
                                   'train_cfg.max_iters=5', 'train_cfg.val_interval=5'],
                          cwd=workspace),
        'test': ToolRun(TEST + [checkpoint, '--work-dir', 'test', '--out', 'results.pkl',
                                '--show-dir', 'vis'], cwd=workspace),
        'tta': ToolRun(TEST + [checkpoint, '--work-dir', 'test_tta', '--tta'], cwd=workspace),
        'dist_test': ToolRun(['bash', str(ROOT / 'tools' / 'dist_test.sh'), str(CONFIG), checkpoint,
                              '2', '--work-dir', 'dist_test', '--out', 'dist_results.pkl'],
                             cwd=workspace, timeout=180, PORT=str(free_port())),
    }


def test_train_writes_checkpoint_log_and_metrics(trained: Path) -> None:
    # the default work dir is ./work_dirs/<config name>
    assert (trained / 'iter_3.pth').is_file()
    assert Path((trained / 'last_checkpoint').read_text().strip()) == trained / 'iter_3.pth'
    log, = trained.glob('*/*.log')
    assert 'Iter(train) [3/3]' in log.read_text()
    records = scalars(trained)
    assert [r['step'] for r in records if 'loss' in r] == [1, 2, 3]
    assert all(np.isfinite(r['loss']) for r in records if 'loss' in r)
    assert any('coco/bbox_mAP' in r for r in records)  # validation at the end


def test_cfg_options_override_the_config(trained: Path) -> None:
    assert not (trained / 'iter_4.pth').exists()  # the config alone trains 4 iterations
    dumped = (trained / CONFIG.name).read_text()
    assert 'max_iters=3' in dumped.replace(' ', '')


def test_resume_continues_from_the_last_checkpoint(trained_runs: Dict[str, ToolRun],
                                                   workspace: Path) -> None:
    output = trained_runs['resume'].output()
    assert 'resumed epoch: 0, iter: 3' in output
    work_dir = workspace / 'resumed'
    assert [r['step'] for r in scalars(work_dir) if 'loss' in r] == [4, 5]
    saved = torch.load(work_dir / 'iter_5.pth')
    assert saved['meta']['iter'] == 5


def test_test_tool_evaluates_dumps_and_draws(trained_runs: Dict[str, ToolRun],
                                             workspace: Path) -> None:
    trained_runs['test'].output()
    json_log, = (workspace / 'test').glob('*/*.json')
    metrics = json.loads(json_log.read_text().splitlines()[-1])
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    with (workspace / 'results.pkl').open('rb') as file:
        results = pickle.load(file)
    assert len(results) == NUM_IMAGES
    assert sorted(r['img_id'] for r in results) == list(range(1, NUM_IMAGES + 1))
    assert all(len(r['pred_instances']['bboxes']) > 0 for r in results)  # score_thr=0
    drawn = sorted(p.name for p in (workspace / 'test').glob('*/vis/*.jpg'))
    assert drawn == [f'{i:04d}.jpg' for i in range(1, NUM_IMAGES + 1)]


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (bfloat16) path')
def test_amp_trains_in_bfloat16_on_cpu(untrained_runs: Dict[str, ToolRun],
                                       workspace: Path) -> None:
    untrained_runs['amp'].output()
    work_dir = workspace / 'amp'
    dumped = (work_dir / CONFIG.name).read_text()
    assert "type='AmpOptimWrapper'" in dumped and "dtype='bfloat16'" in dumped
    losses = [r['loss'] for r in scalars(work_dir) if 'loss' in r]
    assert len(losses) == 2 and all(np.isfinite(losses))


def test_dist_train_runs_two_cpu_processes(untrained_runs: Dict[str, ToolRun],
                                           workspace: Path) -> None:
    output = untrained_runs['dist'].output()
    work_dir = workspace / 'dist'
    assert 'Distributed training: True' in output
    assert 'GPU number: 2' in output  # mmengine's name for the world size
    assert (work_dir / 'iter_2.pth').is_file()
    assert 'coco/bbox_mAP' in logged_metrics(work_dir)  # the main process's text log


def test_test_tool_with_flip_tta(trained_runs: Dict[str, ToolRun], workspace: Path) -> None:
    trained_runs['tta'].output()
    config, = (workspace / 'test_tta').glob('*/vis_data/config.py')
    assert "type='DetTTAModel'" in config.read_text()
    assert "type='TestTimeAug'" in config.read_text()
    json_log, = (workspace / 'test_tta').glob('*/*.json')
    assert 'coco/bbox_mAP' in json.loads(json_log.read_text().splitlines()[-1])


def test_dist_test_gathers_results_of_two_cpu_processes(trained_runs: Dict[str, ToolRun],
                                                        workspace: Path) -> None:
    trained_runs['dist_test'].output()
    with (workspace / 'dist_results.pkl').open('rb') as file:
        assert sorted(r['img_id'] for r in pickle.load(file)) == list(range(1, NUM_IMAGES + 1))
    # the main process's text log (both processes may write the json log)
    assert 'coco/bbox_mAP' in logged_metrics(workspace / 'dist_test')
