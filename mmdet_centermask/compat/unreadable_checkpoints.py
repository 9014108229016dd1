"""Fix 9: unreadable checkpoints are named.

An empty or truncated local file given to mmengine's ``CheckpointLoader`` (behind
``load_from``, ``--resume``, ``tools/test.py`` and ``DetInferencer``) raised a bare
``EOFError`` or torch's ``PytorchStreamReader failed``, naming no file; it raises
:class:`~mmdet_centermask.utils.checkpoint_errors.UnreadableCheckpointError` with its path and
the newest older whole checkpoint beside it. Weights-only refusals of a whole file and errors of
other sources pass on unchanged.
"""
import functools
import os.path as osp

from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.checkpoint_errors import (UNREADABLE, UnreadableCheckpointError,
                                       describe_unreadable, is_whole)
from .fix import CompatFix


def _passes_torch_errors_on() -> bool:
    """Every mmengine release passes torch's errors for a damaged file on as they are."""
    return True


def _name_unreadable_files() -> None:
    load = CheckpointLoader.load_checkpoint

    @functools.wraps(load)
    def load_naming_unreadable_files(cls, filename: str, *args, **kwargs):
        try:
            return load(filename, *args, **kwargs)
        except UNREADABLE as error:
            if not (isinstance(filename, str) and osp.isfile(filename)) or is_whole(filename):
                raise
            raise UnreadableCheckpointError(describe_unreadable(filename, error)) from error

    CheckpointLoader.load_checkpoint = classmethod(load_naming_unreadable_files)


FIX = CompatFix(
    name='unreadable_checkpoints',
    summary='an empty or truncated checkpoint is an error naming it and the newest whole one',
    applies_to='every mmengine release',
    unnecessary_since='none',
    is_needed=_passes_torch_errors_on,
    apply=_name_unreadable_files)
