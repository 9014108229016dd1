"""``mmdet_centermask.model_converters.common``: reading a source checkpoint."""
from pathlib import Path

import pytest
import torch

from mmdet_centermask.model_converters import ConversionError, load_source_state_dict


def test_load_source_rejects_non_state_dicts(tmp_path: Path) -> None:
    path = tmp_path / 'bad.pth'
    torch.save(dict(model=dict(weight=torch.zeros(1), note='text')), path)
    with pytest.raises(ConversionError, match="entry 'note' is a str"):
        load_source_state_dict(str(path))
    torch.save(dict(model=dict(weight=torch.zeros(1))), path)
    assert list(load_source_state_dict(str(path))) == ['weight']
