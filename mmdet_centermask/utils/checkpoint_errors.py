"""Errors that say which checkpoint cannot be read, and which one beside it can.

mmengine's ``CheckpointLoader.load_checkpoint`` (behind ``load_from``, ``--resume``,
``tools/test.py`` and ``DetInferencer``) passes torch's errors on: a bare ``EOFError`` for an
empty file (a run killed while saving) and ``PytorchStreamReader failed reading zip archive``
for a truncated one, neither naming the file. Where
:mod:`mmdet_centermask.compat.unreadable_checkpoints` wraps it, a local file that cannot be read
raises :class:`UnreadableCheckpointError` with its path, its size, and the newest older
checkpoint of the same folder whose archive is whole.
"""
import glob
import os.path as osp
import pickle
import re
import zipfile
from typing import List, Optional

# what torch raises for a file that is not a whole checkpoint (a file that is not a zip archive
# goes to its legacy unpickler: KeyError or UnpicklingError on the first bytes)
UNREADABLE = (EOFError, RuntimeError, KeyError, zipfile.BadZipFile, pickle.UnpicklingError)


class UnreadableCheckpointError(RuntimeError):
    """A checkpoint file that is empty, truncated or not a checkpoint at all."""


def is_whole(path: str) -> bool:
    """Whether ``path`` is a complete torch zip archive (CRC of every record checked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def _iteration(path: str) -> Optional[int]:
    match = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', osp.basename(path))
    return int(match.group(1)) if match else None


def older_whole_checkpoints(path: str) -> List[str]:
    """The whole ``*.pth`` files beside ``path`` saved before it, newest first.

    Order by the number of ``iter_N.pth`` / ``epoch_N.pth`` where both have one, else by
    modification time.
    """
    number, mtime = _iteration(path), osp.getmtime(path)
    older = []
    for other in glob.glob(osp.join(osp.dirname(osp.abspath(path)), '*.pth')):
        if osp.samefile(other, path):
            continue
        other_number = _iteration(other)
        if number is not None and other_number is not None:
            key, before = other_number, other_number < number
        else:
            key, before = osp.getmtime(other), osp.getmtime(other) < mtime
        if before:
            older.append((key, other))
    return [other for _, other in sorted(older, reverse=True) if is_whole(other)]


def describe_unreadable(path: str, error: Exception) -> str:
    """The message for a local checkpoint that torch could not read."""
    size = osp.getsize(path)
    first_line = (str(error).strip().splitlines() or [''])[0][:160]
    if size == 0:
        what = 'is empty (0 bytes)'
    elif not zipfile.is_zipfile(path):
        what = (f'is not a torch zip archive ({size} bytes; torch said '
                f'{type(error).__name__}: {first_line})')
    else:
        what = f'cannot be read ({type(error).__name__}: {first_line}; {size} bytes)'
    older = older_whole_checkpoints(path)
    instead = (f'the newest older checkpoint that is whole is {older[0]} '
               f'(resume with --resume {older[0]})' if older
               else 'there is no older whole checkpoint beside it')
    return (f'checkpoint {path} {what}: it is truncated or damaged, typically by a run killed '
            f'while saving it or an interrupted copy or download; {instead}')
