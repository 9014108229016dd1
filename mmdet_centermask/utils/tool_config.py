import os.path as osp
from typing import List, Optional

import torch
from mmengine.config import Config

from mmdet.utils import get_test_pipeline_cfg


def load_tool_config(config: str, launcher: str = 'none', cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None) -> Config:
    """The config of ``tools/train.py`` and ``tools/test.py``, with the command line applied.

    Args:
        config (str): Config file.
        launcher (str): Job launcher (``none``, ``pytorch``, ``slurm``, ``mpi``).
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        work_dir (str, optional): ``--work-dir``. Precedence: command line > config >
            ``./work_dirs/<config name>``.

    Returns:
        Config: The config for ``Runner.from_cfg``; without CUDA its distributed backend is
        ``gloo`` (NCCL, the backend of mmdet's ``default_runtime``, needs CUDA).
    """
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    if not torch.cuda.is_available():
        cfg.merge_from_dict({'env_cfg.dist_cfg.backend': 'gloo'})
    return cfg


def image_test_pipeline(cfg: Config, from_array: bool = False) -> List[dict]:
    """The config's test pipeline without its annotation loading: what prepares an image that has
    no annotations (the exported model's runtime, batch inference, serving). ``from_array``:
    for a BGR array (``img``) instead of a file (``img_path``)."""
    pipeline = [step for step in get_test_pipeline_cfg(cfg) if 'Annotations' not in step['type']]
    if from_array:
        pipeline[0] = dict(type='mmdet.LoadImageFromNDArray')
    return pipeline
