"""Factories and checks shared by the tests (as ``mmdet.testing`` is mmdet's): zoo configs and
models, random batches, tiny datasets on disk, tools run in subprocesses, centermask2-layout
checkpoints and independent reference backbones. They read the checkout (configs/, tools/,
docs/), so they serve a clone with an editable install."""
from .batches import (SMALL_CENTERMASK_CLASSES, build_small_centermask, make_batch,
                      small_centermask_inputs, train_step_and_predict)
from .datasets import (CLIP_FPS, CLIP_FRAMES, CLIP_HEIGHT, CLIP_WIDTH, TINY_COCO_BOXES,
                       TINY_COCO_IMAGE_SIZE, write_clip, write_my_dataset, write_tiny_coco)
from .panoptic import (TINY_PANOPTIC_CATEGORIES, TINY_PANOPTIC_SQUARES,
                       assert_panoptic_matches_instances, read_panoptic_ids,
                       tiny_panoptic_dataset_cfg, write_tiny_coco_panoptic)
from .tools import (WALKTHROUGH_OPTIONS, ToolRun, free_port, logged_losses, logged_metrics,
                    run_tool, tool_env)
from .zoo import (CONFIG_DIR, REPO_ROOT, assign_weights, build_model, load_config, load_tool,
                  random_detector, save_initialised_checkpoint, walkthrough_config)

__all__ = [
    'SMALL_CENTERMASK_CLASSES', 'ToolRun', 'build_small_centermask', 'small_centermask_inputs',
    'CLIP_FPS', 'CLIP_FRAMES', 'CLIP_HEIGHT', 'CLIP_WIDTH', 'CONFIG_DIR', 'REPO_ROOT',
    'TINY_COCO_BOXES', 'TINY_COCO_IMAGE_SIZE', 'TINY_PANOPTIC_CATEGORIES', 'TINY_PANOPTIC_SQUARES',
    'WALKTHROUGH_OPTIONS', 'assert_panoptic_matches_instances', 'assign_weights', 'build_model',
    'free_port',
    'load_config', 'load_tool', 'logged_losses', 'logged_metrics', 'make_batch', 'random_detector',
    'read_panoptic_ids', 'run_tool',
    'save_initialised_checkpoint',
    'tiny_panoptic_dataset_cfg', 'tool_env', 'train_step_and_predict', 'walkthrough_config',
    'write_clip', 'write_my_dataset', 'write_tiny_coco', 'write_tiny_coco_panoptic'
]
