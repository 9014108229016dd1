import logging
import random
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmdet.registry import HOOKS

RNGStates = Dict[str, Any]
CHECKPOINT_KEY = 'rng_states'


def get_rng_states() -> RNGStates:
    """This process's torch (and CUDA), numpy and ``random`` generator states.

    Only tensors and plain Python objects, so that a checkpoint holding them loads with
    ``torch.load(weights_only=True)``.
    """
    name, key, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    states = dict(torch=torch.get_rng_state(),
                  numpy=(name, torch.from_numpy(key.astype(np.int64)), pos, has_gauss,
                         cached_gaussian),
                  random=random.getstate())
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: RNGStates, streams: Sequence[str]) -> None:
    """Set the generators named in ``streams`` to ``states`` (from :func:`get_rng_states`; a
    resumed checkpoint may have been loaded onto an accelerator)."""
    if 'torch' in streams:
        torch.set_rng_state(states['torch'].cpu())
        if 'cuda' in states:
            torch.cuda.set_rng_state_all([state.cpu() for state in states['cuda']])
    if 'numpy' in streams:
        name, key, pos, has_gauss, cached_gaussian = states['numpy']
        np.random.set_state((name, key.cpu().numpy().astype(np.uint32), pos, has_gauss,
                             cached_gaussian))
    if 'random' in streams:
        random.setstate(states['random'])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Let a resumed training draw the same random numbers as an uninterrupted one.

    mmengine's resume restores weights, optimizer, schedulers and message hub, re-seeds the
    generators from ``randomness.seed`` and replays the consumed batches through the data
    pipeline (``IterBasedTrainLoop``), which reproduces the data augmentation. It does not
    restore the generators of the model: after resuming at iteration k, torch's generator (the
    RoI sampler's draws, dropout) starts over from the seed instead of continuing from k.

    This hook

    * stores the torch (and CUDA), numpy and ``random`` states of every process in each
      checkpoint (``checkpoint['rng_states']``, one entry per rank);
    * sets them back right before the first iteration after resuming from that checkpoint.
      numpy and ``random`` are set back only when worker processes load the training data:
      with ``num_workers=0`` the data pipeline draws from them in the training process, and the
      replay of the consumed batches already brings them to their state at the checkpoint;
    * keeps validation from changing the training's random numbers (creating a dataloader
      iterator draws from torch's generator): a validation that ran right after the checkpoint
      before an interruption is not run again after resuming.

    Resuming with another number of processes keeps mmengine's re-seeded generators.
    Add it with ``custom_hooks = [dict(type='RNGStateHook')]``.
    """

    priority = 'VERY_HIGH'  # restore before any other hook draws a random number

    def __init__(self) -> None:
        self._rank_states: Optional[List[RNGStates]] = None
        self._val_states: Optional[RNGStates] = None
        self._resumed_states: Optional[List[RNGStates]] = None
        self._resumed_iter: Optional[int] = None

    def after_train_iter(self, runner: Runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        # every rank takes part; the main process saves the checkpoint alone
        self._rank_states = all_gather_object(get_rng_states())

    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        if self._rank_states is not None:
            checkpoint[CHECKPOINT_KEY] = self._rank_states

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        self._resumed_states = checkpoint.get(CHECKPOINT_KEY)
        self._resumed_iter = checkpoint.get('meta', {}).get('iter')

    def before_train_iter(self, runner: Runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        resumed_states, resumed_iter = self._resumed_states, self._resumed_iter
        self._resumed_states = self._resumed_iter = None
        if resumed_iter is None or runner.iter != resumed_iter:
            return  # not resumed: a fresh run, or load_from of a checkpoint to fine-tune
        if resumed_states is None or len(resumed_states) != get_world_size():
            print_log('The checkpoint has no random states of '
                      f'{get_world_size()} process(es): the random numbers after resuming '
                      'differ from those of an uninterrupted run.', logger='current',
                      level=logging.WARNING)
            return
        streams = ['torch']
        if runner.train_dataloader.num_workers > 0:
            streams += ['numpy', 'random']
        set_rng_states(resumed_states[get_rank()], streams)
        print_log(f'Restored the {", ".join(streams)} random states of iteration '
                  f'{runner.iter}.', logger='current')

    def before_val(self, runner: Runner) -> None:
        self._val_states = get_rng_states()

    def after_val(self, runner: Runner) -> None:
        if self._val_states is not None:
            set_rng_states(self._val_states, ['torch', 'numpy', 'random'])
            self._val_states = None
