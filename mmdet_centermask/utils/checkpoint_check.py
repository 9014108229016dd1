"""Refuse a checkpoint of another architecture before mmengine loads it.

mmengine loads ``load_from`` (and the checkpoint of ``tools/test.py``) non-strictly: keys that are
missing, unexpected or of another shape only log a warning, so the checkpoint of another
architecture silently evaluates, or trains, a mostly randomly initialised model.
"""
import re
from typing import List

from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

NUM_EXAMPLE_KEYS = 3
CONVERTER_HINT = ('Is it a checkpoint of another architecture or config? centermask2 / detectron2 '
                  'checkpoints convert with tools/model_converters/centermask2_to_mmdet.py; VoVNet '
                  'ImageNet weights (tools/model_converters/vovnet_to_mmdet.py) belong in '
                  'model.backbone.init_cfg, not in load_from.')


def _examples(keys: List[str]) -> str:
    """The first few keys, and how many more there are."""
    shown = ', '.join(keys[:NUM_EXAMPLE_KEYS])
    more = len(keys) - NUM_EXAMPLE_KEYS
    return shown + (f' and {more} more' if more > 0 else '')


def check_checkpoint_fits(model: nn.Module, checkpoint_path: str, for_training: bool) -> None:
    """Raise a ValueError when a checkpoint does not fit the model it is about to be loaded into.

    The checkpoint's ``state_dict`` (or the checkpoint itself) is compared with the model's, as
    mmengine loads it: a leading ``module.`` is stripped from the checkpoint's keys, model wrappers
    (DDP, a TTA model) are unwrapped and missing BN ``num_batches_tracked`` counters are fine.

    Args:
        model (nn.Module): The model, e.g. ``runner.model``.
        checkpoint_path (str): A path or URL that mmengine's ``CheckpointLoader`` reads.
        for_training (bool): False (testing): every key must be in both, with the same shape, since
            the test would otherwise evaluate random weights. True (``load_from`` in training):
            only a checkpoint that fills less than half of the model's parameter values is an
            error; fine-tuning from another class count leaves mmengine's per-key warnings.

    Raises:
        ValueError: Naming the counts of missing, unexpected and reshaped keys, examples of each
            and the converters.
    """
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    checkpoint = CheckpointLoader.load_checkpoint(checkpoint_path, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{checkpoint_path} holds a {type(checkpoint).__name__}, not a state '
                         "dict (or a dict with one under 'state_dict')")
    source = checkpoint.get('state_dict', checkpoint)
    source_shapes = {re.sub(r'^module\.', '', key): tuple(getattr(value, 'shape', ()))
                     for key, value in source.items()}
    target = model.state_dict()

    missing = [key for key in target
               if key not in source_shapes and not key.endswith('num_batches_tracked')]
    unexpected = [key for key in source_shapes if key not in target]
    reshaped = [f'{key} {source_shapes[key]} in the checkpoint, {tuple(value.shape)} in the model'
                for key, value in target.items()
                if key in source_shapes and source_shapes[key] != tuple(value.shape)]
    total = sum(value.numel() for value in target.values())
    loaded = sum(value.numel() for key, value in target.items()
                 if source_shapes.get(key) == tuple(value.shape))
    fits = loaded >= total / 2 if for_training else not (missing or unexpected or reshaped)
    if fits:
        return
    problems = [
        f'{len(missing)} of the model\'s {len(target)} tensors are missing from it'
        + (f' (e.g. {_examples(missing)})' if missing else ''),
        f'{len(unexpected)} of its {len(source_shapes)} tensors are not in the model'
        + (f' (e.g. {_examples(unexpected)})' if unexpected else ''),
        f'{len(reshaped)} have another shape'
        + (f' (e.g. {_examples(reshaped)})' if reshaped else ''),
    ]
    consequence = ('mmengine would load it without an error and train a mostly random model'
                   if for_training else 'testing needs every weight of the model')
    raise ValueError(
        f'checkpoint {checkpoint_path} does not fit {type(model).__name__}: ' + '; '.join(problems)
        + f'. {loaded / max(total, 1):.1%} of the model\'s {total} parameter values would load, '
        f'and {consequence}. {CONVERTER_HINT}')
