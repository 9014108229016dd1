"""RNGStateHook: checkpoints carry the random states, resuming continues them.

The end-to-end check on CenterMask (a SIGKILLed ``tools/train.py`` run) is in
``tests/e2e/test_resume_and_determinism.py``; here a toy model with dropout shows in-process
that mmengine's resume alone does not reproduce the random numbers and the hook does.
"""
import logging
import random
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import List, Optional
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from mmdet.registry import HOOKS
from mmdet_centermask.engine.hooks.rng_state_hook import (RNGStateHook, get_rng_states,
                                                          set_rng_states)


def draw() -> tuple:
    """One number from each generator."""
    return torch.rand(1).item(), np.random.rand(), random.random()


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def fake_runner(iteration: int, num_workers: int = 0) -> SimpleNamespace:
    return SimpleNamespace(iter=iteration,
                           train_dataloader=SimpleNamespace(num_workers=num_workers))


def saved_checkpoint(iteration: int) -> dict:
    """A checkpoint as RNGStateHook saves it after ``iteration`` iterations."""
    hook = RNGStateHook()
    hook.after_train_iter(fake_runner(iteration - 1), iteration - 1)
    checkpoint = dict(meta=dict(iter=iteration))
    hook.before_save_checkpoint(fake_runner(iteration - 1), checkpoint)
    return checkpoint


def leaves(obj: object) -> list:
    """The non-container objects in nested dicts, lists and tuples."""
    if isinstance(obj, dict):
        return [leaf for value in obj.values() for leaf in leaves(value)]
    if isinstance(obj, (list, tuple)):
        return [leaf for value in obj for leaf in leaves(value)]
    return [obj]


def test_states_survive_a_weights_only_checkpoint(tmp_path: Path) -> None:
    states = get_rng_states()
    # tensors and Python scalars only: loadable without mmdet_centermask's numpy allow-list
    assert {type(leaf) for leaf in leaves(states)} <= {torch.Tensor, int, float, str, type(None)}
    expected = draw()
    torch.save(dict(rng_states=[states]), tmp_path / 'states.pth')
    draw()
    loaded = torch.load(tmp_path / 'states.pth', weights_only=True)['rng_states'][0]
    set_rng_states(loaded, ['torch', 'numpy', 'random'])
    assert draw() == expected


def test_registered_in_mmdet() -> None:
    assert isinstance(HOOKS.build(dict(type='RNGStateHook')), RNGStateHook)


@pytest.mark.parametrize('num_workers, restored', [(0, (True, False, False)),
                                                   (2, (True, True, True))])
def test_resuming_sets_back_the_model_side_generators(num_workers: int, restored: tuple) -> None:
    """torch always; numpy and random only when workers load the data (with num_workers=0 the
    replayed data pipeline draws them in the training process)."""
    checkpoint = saved_checkpoint(iteration=4)
    at_checkpoint = draw()
    seed_all(1)  # what mmengine's resume does
    reseeded = draw()
    seed_all(1)

    hook = RNGStateHook()
    hook.after_load_checkpoint(fake_runner(4), checkpoint)
    hook.before_train_iter(fake_runner(4, num_workers), 4)
    expected = [a if r else b for a, b, r in zip(at_checkpoint, reseeded, restored)]
    assert list(draw()) == expected


def test_loading_weights_to_fine_tune_keeps_the_seeded_generators() -> None:
    checkpoint = saved_checkpoint(iteration=4)
    torch.manual_seed(1)
    expected = torch.rand(1)
    torch.manual_seed(1)
    hook = RNGStateHook()
    hook.after_load_checkpoint(fake_runner(0), checkpoint)  # load_from: training starts at 0
    hook.before_train_iter(fake_runner(0), 0)
    assert torch.equal(torch.rand(1), expected)


def test_resuming_from_a_checkpoint_without_states_warns() -> None:
    hook = RNGStateHook()
    hook.after_load_checkpoint(fake_runner(4), dict(meta=dict(iter=4)))
    torch.manual_seed(1)
    expected = torch.rand(1)
    torch.manual_seed(1)
    with mock.patch('mmdet_centermask.engine.hooks.rng_state_hook.print_log') as print_log:
        hook.before_train_iter(fake_runner(4), 4)
    assert torch.equal(torch.rand(1), expected)
    message, = print_log.call_args.args
    assert 'no random states' in message
    assert print_log.call_args.kwargs['level'] == logging.WARNING


def test_validation_draws_nothing_from_training() -> None:
    hook = RNGStateHook()
    states = get_rng_states()
    without_validation = draw()
    set_rng_states(states, ['torch', 'numpy', 'random'])
    hook.before_val(fake_runner(2))
    draw()  # e.g. the validation dataloader's base seed
    hook.after_val(fake_runner(2))
    assert draw() == without_validation


class DropoutRegressor(BaseModel):
    """A linear regressor behind dropout: every training step draws from torch's generator."""

    def __init__(self) -> None:
        super().__init__()
        self.dropout = nn.Dropout(0.5)
        self.linear = nn.Linear(8, 1)

    def forward(self, inputs: List[torch.Tensor], targets: List[torch.Tensor],
                mode: str = 'loss') -> dict:
        predictions = self.linear(self.dropout(torch.stack(inputs))).squeeze(1)
        return dict(loss=((predictions - torch.stack(targets))**2).mean())


class RandomPoints(Dataset):

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(16, 8, generator=generator)
        self.targets = torch.randn(16, generator=generator)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=self.inputs[index], targets=self.targets[index])


def train(work_dir: Path, name: str, with_hook: bool, resume_from: Optional[Path] = None) -> dict:
    """Train DropoutRegressor for 6 iterations (checkpoints every 2) and return its weights."""
    runner = Runner(
        model=DropoutRegressor(),
        work_dir=str(work_dir),
        experiment_name=f'rng_state_hook_{name}',
        default_scope='mmdet',  # the scope of the other tests, which a Runner makes current
        train_dataloader=dict(dataset=RandomPoints(), batch_size=4, num_workers=0,
                              sampler=dict(type='InfiniteSampler', shuffle=True),
                              collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(by_epoch=False, max_iters=6),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2)),
        custom_hooks=[RNGStateHook()] if with_hook else [],
        randomness=dict(seed=0),
        load_from=None if resume_from is None else str(resume_from),
        resume=resume_from is not None)
    runner.train()
    return runner.model.state_dict()


@pytest.mark.parametrize('with_hook', [False, True])
def test_resumed_training_needs_the_hook_to_match(tmp_path: Path, with_hook: bool) -> None:
    expected = train(tmp_path / 'uninterrupted', f'uninterrupted_{with_hook}', with_hook)
    (tmp_path / 'resumed').mkdir()
    shutil.copy(tmp_path / 'uninterrupted' / 'iter_2.pth', tmp_path / 'resumed')
    resumed = train(tmp_path / 'resumed', f'resumed_{with_hook}', with_hook,
                    resume_from=tmp_path / 'resumed' / 'iter_2.pth')
    same = all(torch.equal(expected[key], resumed[key]) for key in expected)
    assert same == with_hook
