"""Train a detector: mmdet 3.3's ``tools/train.py`` command line over mmengine's Runner.

Beyond mmdet's tool: ``mmdet_centermask`` is imported first, so our model types resolve in
configs without ``custom_imports``, and the fixes of :mod:`mmdet_centermask.compat` that the
running stack needs are active; without CUDA the distributed backend is ``gloo`` and ``--amp``
autocasts to bfloat16; a ``load_from`` checkpoint that would fill less than half of the model
(another architecture) is an error instead of mmengine's warnings.

Example::

    python tools/train.py configs/centermask/centermask_r50_fpn_1x_coco.py --amp
    tools/dist_train.sh configs/centermask/centermask_r50_fpn_1x_coco.py 8
"""
import argparse
import os

from mmdet.registry import RUNNERS
from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine.config import DictAction
from mmengine.device import get_device
from mmengine.runner import Runner

import mmdet_centermask  # noqa: F401 (registers our models)
import mmdet_centermask.compat  # noqa: F401 (the fixes this stack needs)
from mmdet_centermask.utils import close_process_group, load_tool_config
from mmdet_centermask.utils.checkpoint_check import check_checkpoint_fits


def parse_args() -> argparse.Namespace:
    """Parse mmdet's training command line."""
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training (bfloat16 on the CPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help="scale the learning rate by the actual / the config's batch size")
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or without a path from the latest '
                        'checkpoint in the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_iters=100 '
                        'key="[a,b]" key="[(a,b),(c,d)]" (no white space)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    """Train as configured."""
    args = parse_args()
    setup_cache_size_limit_of_dynamo()
    cfg = load_tool_config(args.config, args.launcher, args.cfg_options, args.work_dir)

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
        if get_device() == 'cpu':
            # mmengine's CPU autocast supports bfloat16 only (which needs no loss scaling)
            cfg.optim_wrapper.dtype = 'bfloat16'
    if args.auto_scale_lr:
        if 'enable' not in cfg.get('auto_scale_lr', {}) or \
                'base_batch_size' not in cfg.auto_scale_lr:
            raise RuntimeError('--auto-scale-lr needs "auto_scale_lr" with "enable" and '
                               '"base_batch_size" in the config')
        cfg.auto_scale_lr.enable = True
    # bare --resume: mmengine resumes from the latest checkpoint in the work dir (load_from None)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    if cfg.get('load_from'):
        # mmengine would only warn and train from a mostly random model
        check_checkpoint_fits(runner.model, cfg.load_from, for_training=True)
    runner.train()
    close_process_group()


if __name__ == '__main__':
    main()
