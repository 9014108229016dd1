"""Test (and evaluate) a detector: mmdet 3.3's ``tools/test.py`` command line over mmengine's
Runner.

Beyond mmdet's tool: ``mmdet_centermask`` is imported first, so our model types resolve in
configs without ``custom_imports``, and the fixes of :mod:`mmdet_centermask.compat` that the
running stack needs are active (e.g. loading mmengine checkpoints with torch >= 2.6); without CUDA the distributed
backend is ``gloo``; a checkpoint whose keys or shapes differ from the model's is an error
instead of mmengine's warnings.

Example::

    python tools/test.py CONFIG CHECKPOINT --out results.pkl --show-dir vis
    tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse
import os
import warnings
from copy import deepcopy

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmdet.registry import RUNNERS
from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmdet_centermask  # noqa: F401 (registers our models)
import mmdet_centermask.compat  # noqa: F401 (the fixes this stack needs)
from mmdet_centermask.models import CenterMask
from mmdet_centermask.utils import close_process_group, load_tool_config
from mmdet_centermask.utils.checkpoint_check import check_checkpoint_fits


def parse_args() -> argparse.Namespace:
    """Parse mmdet's test command line."""
    parser = argparse.ArgumentParser(description='MMDet test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the file with the evaluation metrics')
    parser.add_argument('--out', help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='where to save the painted images, relative to '
                        'work_dir/timestamp')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. test_evaluator.metric=bbox '
                        'key="[a,b]" key="[(a,b),(c,d)]" (no white space)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--tta', action='store_true',
                        help="test with the config's test-time augmentation (tta_model, "
                        'tta_pipeline)')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error('--out must be a .pkl or .pickle file')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def use_tta(cfg: Config) -> None:
    """Wrap the model in the config's ``tta_model`` and test on its ``tta_pipeline``.

    The CenterMask zoo configs have centermask2's (``CenterMaskTTAModel``, 9 scales with and
    without a flip). Without them in the config: ``CenterMaskTTAModel`` (CenterMask) or mmdet's
    ``DetTTAModel`` (others), NMS at IoU 0.5 and 100 boxes per image, over the test pipeline
    with and without a horizontal flip.
    """
    if 'tta_model' not in cfg:
        tta_type = 'CenterMaskTTAModel' if cfg.model.type in (
            'CenterMask', CenterMask) else 'DetTTAModel'
        warnings.warn(f'No tta_model in the config: using {tta_type}', stacklevel=2)
        cfg.tta_model = dict(type=tta_type,
                             tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    dataset_cfg = cfg.test_dataloader.dataset
    while 'dataset' in dataset_cfg:  # dataset wrappers
        dataset_cfg = dataset_cfg.dataset
    if 'tta_pipeline' not in cfg:
        warnings.warn("No tta_pipeline in the config: flipping the test pipeline's images",
                      stacklevel=2)
        flip_and_pack = dict(
            type='TestTimeAug',
            transforms=[[dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
                        [dict(type='PackDetInputs',
                              meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                         'scale_factor', 'flip', 'flip_direction'))]])
        cfg.tta_pipeline = deepcopy(dataset_cfg.pipeline)[:-1] + [flip_and_pack]
    # a copy, not ConfigDict(**cfg.tta_model): unpacking would build the lazy imports of a
    # pure-Python config into classes, which the Runner cannot dump to its work_dir
    tta_model = deepcopy(cfg.tta_model)
    tta_model.module = cfg.model
    cfg.model = tta_model
    dataset_cfg.pipeline = cfg.tta_pipeline


def main() -> None:
    """Test the checkpoint as configured."""
    args = parse_args()
    setup_cache_size_limit_of_dynamo()
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        use_tta(cfg)

    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    # mmengine would only warn and evaluate a mostly random model
    check_checkpoint_fits(runner.model, args.checkpoint, for_training=False)
    if args.out is not None:
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    runner.test()
    close_process_group()


if __name__ == '__main__':
    main()
