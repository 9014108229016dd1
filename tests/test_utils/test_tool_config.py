"""The config of tools/train.py and tools/test.py: work dir precedence and distributed backend."""
import os.path as osp
from pathlib import Path

import torch

from mmdet_centermask.utils import load_tool_config

CONFIG = Path(__file__).resolve().parents[1] / 'data' / 'configs' / 'retinanet_r18_tiny-coco.py'


def test_work_dir_precedence_and_backend() -> None:
    cfg = load_tool_config(str(CONFIG))
    assert cfg.work_dir == osp.join('./work_dirs', CONFIG.stem)
    assert cfg.launcher == 'none'
    assert cfg.env_cfg.dist_cfg.backend == ('nccl' if torch.cuda.is_available() else 'gloo')
    assert load_tool_config(str(CONFIG), cfg_options=dict(work_dir='from_config')).work_dir == \
        'from_config'
    cfg = load_tool_config(str(CONFIG), 'pytorch', dict(work_dir='from_config'),
                           'from_command_line')
    assert (cfg.work_dir, cfg.launcher) == ('from_command_line', 'pytorch')
