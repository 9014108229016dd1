"""Empty, truncated and foreign checkpoint files: errors that name the file and the newest older
checkpoint that is whole, through mmengine's loader (behind load_from, --resume, tools/test.py)
and DetInferencer. torch's own errors first: what users saw before."""
import pickle
from pathlib import Path

import pytest
import torch
from mmdet_centermask.testing import REPO_ROOT
from mmengine.runner.checkpoint import _load_checkpoint

from mmdet_centermask.utils.checkpoint_errors import UnreadableCheckpointError

CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'centermask_r18_tiny-coco.py'


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    """iter_2 and iter_4 whole, iter_6 cut in half, iter_8 empty (a run killed while saving)."""
    for iteration in (2, 4, 6):
        torch.save(dict(state_dict=dict(w=torch.full((64, ), float(iteration)))),
                   tmp_path / f'iter_{iteration}.pth')
    whole = (tmp_path / 'iter_6.pth').read_bytes()
    (tmp_path / 'iter_6.pth').write_bytes(whole[:len(whole) // 2])
    (tmp_path / 'iter_8.pth').write_bytes(b'')
    (tmp_path / 'notes.pth').write_bytes(b'not a checkpoint at all')
    return tmp_path


def test_torch_errors_do_not_name_the_file(work_dir):
    with pytest.raises(EOFError) as empty:
        torch.load(work_dir / 'iter_8.pth')
    assert str(empty.value) == ''
    with pytest.raises(RuntimeError, match='PytorchStreamReader failed reading zip archive'):
        torch.load(work_dir / 'iter_6.pth')


@pytest.mark.parametrize('name, what', [
    ('iter_8.pth', r'is empty \(0 bytes\)'),
    ('iter_6.pth', r'is not a torch zip archive \(\d+ bytes; torch said RuntimeError: '
                   r'PytorchStreamReader failed reading zip archive: .*\)'),
])
def test_names_the_file_and_the_newest_older_whole_checkpoint(work_dir, name, what):
    with pytest.raises(UnreadableCheckpointError,
                       match=rf'checkpoint {work_dir / name} {what}: it is truncated or damaged, '
                             r'typically by a run killed while saving it .*; the newest older '
                             rf'checkpoint that is whole is {work_dir / "iter_4.pth"} \(resume '
                             rf'with --resume {work_dir / "iter_4.pth"}\)'):
        _load_checkpoint(str(work_dir / name), map_location='cpu')
    assert _load_checkpoint(str(work_dir / 'iter_4.pth'))['state_dict']['w'][0] == 4


def test_a_file_that_is_no_checkpoint_and_none_older(work_dir):
    for name in ('iter_2.pth', 'iter_4.pth', 'iter_6.pth', 'iter_8.pth'):
        (work_dir / name).unlink()
    with pytest.raises(UnreadableCheckpointError,
                       match=r'notes.pth is not a torch zip archive \(23 bytes; torch said '
                             r'UnpicklingError: Weights only load failed.*\): .* there is no '
                             r'older whole checkpoint beside it$'):
        _load_checkpoint(str(work_dir / 'notes.pth'))


def test_weights_only_refusals_of_whole_files_pass_on(tmp_path):
    path = tmp_path / 'code.pth'
    torch.save(dict(meta=dict(loader=Path('x'))), path)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        _load_checkpoint(str(path))


def test_det_inferencer_names_the_truncated_checkpoint(work_dir):
    from mmdet.apis import DetInferencer

    with pytest.raises(UnreadableCheckpointError, match=r'iter_6.pth is not a torch zip archive'):
        DetInferencer(model=str(CONFIG), weights=str(work_dir / 'iter_6.pth'), device='cpu')
