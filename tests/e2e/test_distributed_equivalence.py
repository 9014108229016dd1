"""Two CPU processes (``tools/dist_train.sh CONFIG 2``, gloo, mmengine's distributed runner) train
like one process with the same total batch, and evaluate exactly like one.

The tiny CenterMask-R18 (``tests/data/configs``, seed 0, deterministic, GroupNorm) trains on a toy
COCO set with 2 images per iteration: 1 process x batch 2 against 2 processes x batch 1. Both see
the same images per iteration (mmengine's InfiniteSampler gives rank r every second index of the
same shuffled order) and the flip is off (each process would draw its own flips from numpy), and
the RoI sampler takes every positive (no draw from torch's generator, which differs per process).

Where the two still differ: DDP averages the processes' gradients. The FCOS losses are normalised
by the positives of all processes (``reduce_mean`` in mmdet's FCOSHead), so their average equals
the one-process loss; the mask and MaskIoU losses are means over each process's RoIs, so two
processes optimise the mean of the per-image means instead of the mean over all RoIs. Measured on
the 2-core CPU machine: after 10 iterations the weights differ by at most 5.3e-3 (the mask
branch's); with the mask losses off, by at most 3.6e-5 (float summation order).
"""
import pickle
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from mmdet_centermask.testing import (REPO_ROOT, ToolRun, free_port, logged_metrics,
                                      write_tiny_coco)


CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'centermask_r18_tiny-coco.py'
SAME_SAMPLES = ['train_dataloader.dataset.pipeline.3.prob=0.0',
                'model.train_cfg.rcnn.sampler.num=512',
                'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']
WITHOUT_MASK_LOSSES = ['model.roi_head.mask_head.loss_mask.loss_weight=0.0',
                       'model.roi_head.mask_iou_head.loss_iou.loss_weight=0.0']


@pytest.fixture(scope='module')
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ``data/tiny_coco``, where the tools run."""
    root = tmp_path_factory.mktemp('distributed')
    write_tiny_coco(root / 'data' / 'tiny_coco')
    return root


def start_training(workspace: Path, work_dir: str, processes: int, max_iters: int,
                   options: List[str]) -> ToolRun:
    """Start training 2 images per iteration in 1 or 2 processes; checkpoints every 10
    iterations."""
    options = options + [f'train_cfg.max_iters={max_iters}', 'default_hooks.checkpoint.interval=10',
                         f'train_dataloader.batch_size={2 // processes}']
    if processes == 1:
        command = [sys.executable, str(REPO_ROOT / 'tools' / 'train.py'), str(CONFIG)]
    else:
        command = ['bash', str(REPO_ROOT / 'tools' / 'dist_train.sh'), str(CONFIG), '2']
    return ToolRun(command + ['--work-dir', work_dir, '--cfg-options', *options], cwd=workspace,
                   PORT=str(free_port()))


@pytest.fixture(scope='module')
def trainings(workspace: Path) -> Dict[str, ToolRun]:
    """Every training of the module, started side by side (one thread per process). ``single``:
    1 process x batch 2, 20 iterations (enough for non-zero AP on the toy set); the others are
    compared with a single-process run of as many iterations. Without the mask losses 5
    iterations: rounding differences grow with every step, so fewer steps test no less."""
    return {
        'single': start_training(workspace, 'single', 1, 20, SAME_SAMPLES),
        'dist': start_training(workspace, 'dist', 2, 10, SAME_SAMPLES),
        'single_without_mask_losses': start_training(
            workspace, 'single_without_mask_losses', 1, 5, SAME_SAMPLES + WITHOUT_MASK_LOSSES),
        'dist_without_mask_losses': start_training(
            workspace, 'dist_without_mask_losses', 2, 5, SAME_SAMPLES + WITHOUT_MASK_LOSSES),
    }


def trained(trainings: Dict[str, ToolRun], work_dir: str, workspace: Path) -> Path:
    """The work dir of a training once it has ended, checked to have run in its processes."""
    distributed = work_dir.startswith('dist')
    assert f'Distributed training: {distributed}' in trainings[work_dir].output()
    return workspace / work_dir



def max_weight_difference(first: Path, second: Path) -> float:
    weights = torch.load(first)['state_dict']
    other = torch.load(second)['state_dict']
    assert weights.keys() == other.keys()
    return max((weights[key].float() - other[key].float()).abs().max().item() for key in weights)


def test_two_processes_train_like_one(trainings: Dict[str, ToolRun], workspace: Path) -> None:
    single, dist = (trained(trainings, name, workspace) for name in ('single', 'dist'))
    difference = max_weight_difference(single / 'iter_10.pth', dist / 'iter_10.pth')
    assert 0 < difference < 0.02  # per-process mask loss means (measured 5.3e-3)


def test_without_the_mask_losses_two_processes_match_to_rounding(trainings: Dict[str, ToolRun],
                                                                 workspace: Path) -> None:
    single, dist = (trained(trainings, f'{name}_without_mask_losses', workspace)
                    for name in ('single', 'dist'))
    difference = max_weight_difference(single / 'iter_5.pth', dist / 'iter_5.pth')
    assert difference < 1e-4  # float summation order (measured 3.6e-5 after 10 iterations)


def start_evaluation(workspace: Path, checkpoint: Path, work_dir: str,
                     processes: int) -> ToolRun:
    """Start ``tools/test.py`` in 1 or 2 processes, dumping its predictions to
    ``<work_dir>.pkl``."""
    if processes == 1:
        command = [sys.executable, str(REPO_ROOT / 'tools' / 'test.py'), str(CONFIG),
                   str(checkpoint)]
    else:
        command = ['bash', str(REPO_ROOT / 'tools' / 'dist_test.sh'), str(CONFIG), str(checkpoint),
                   '2']
    return ToolRun(command + ['--work-dir', work_dir, '--out', f'{work_dir}.pkl'], cwd=workspace,
                   PORT=str(free_port()))


def evaluation(run: ToolRun, workspace: Path, work_dir: str) -> tuple:
    """COCO metrics and dumped predictions of an evaluation once it has ended."""
    run.output()
    metrics = logged_metrics(workspace / work_dir)
    with (workspace / f'{work_dir}.pkl').open('rb') as file:
        predictions = pickle.load(file)
    return metrics, predictions


def test_evaluation_in_two_processes_gives_the_same_metrics(trainings: Dict[str, ToolRun],
                                                            workspace: Path) -> None:
    checkpoint = trained(trainings, 'single', workspace) / 'iter_20.pth'
    runs = {name: start_evaluation(workspace, checkpoint, f'test_{name}', processes)
            for name, processes in (('single', 1), ('dist', 2))}
    metrics, predictions = evaluation(runs['single'], workspace, 'test_single')
    dist_metrics, dist_predictions = evaluation(runs['dist'], workspace, 'test_dist')
    assert metrics['coco/bbox_mAP'] > 0 and metrics['coco/segm_mAP'] > 0
    assert dist_metrics == metrics
    assert [p['img_id'] for p in dist_predictions] == [p['img_id'] for p in predictions]
    for result, expected in zip(dist_predictions, predictions):
        instances, expected_instances = result['pred_instances'], expected['pred_instances']
        for key in ('bboxes', 'scores', 'labels', 'mask_scores'):
            assert torch.equal(instances[key], expected_instances[key]), key
        assert instances['masks'] == expected_instances['masks']  # RLE
