# Runtime settings of mmdet's classic `_base_/default_runtime.py` (mmdet 3.3.0), in the pure-Python
# style: types are the classes themselves, so no registry scope is needed; default_scope names
# mmdet's all the same, for mmdet's tools (init_default_scope(cfg.get('default_scope', 'mmdet'))
# fails on None).
# Beyond mmdet's: CompatFixesHook, the opt-in of pure-Python configs to mmdet_centermask.compat
# (mmengine imports no custom_imports for them); configs that set custom_hooks list it again.
from mmengine.hooks import (CheckpointHook, DistSamplerSeedHook, IterTimerHook, LoggerHook,
                            ParamSchedulerHook)
from mmengine.runner import LogProcessor
from mmengine.visualization import LocalVisBackend

from mmdet.engine.hooks import DetVisualizationHook
from mmdet.visualization import DetLocalVisualizer
from mmdet_centermask.compat import CompatFixesHook

default_scope = 'mmdet'

default_hooks = dict(
    timer=dict(type=IterTimerHook),
    logger=dict(type=LoggerHook, interval=50),
    param_scheduler=dict(type=ParamSchedulerHook),
    checkpoint=dict(type=CheckpointHook, interval=1),
    sampler_seed=dict(type=DistSamplerSeedHook),
    visualization=dict(type=DetVisualizationHook))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type=LocalVisBackend)]
visualizer = dict(type=DetLocalVisualizer, vis_backends=vis_backends, name='visualizer')
log_processor = dict(type=LogProcessor, window_size=50, by_epoch=True)

custom_hooks = [dict(type=CompatFixesHook)]

log_level = 'INFO'
load_from = None
resume = False
