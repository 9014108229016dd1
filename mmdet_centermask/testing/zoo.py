"""Zoo configs and models for tests: configs without their ImageNet initialisation, models
on the meta device, command-line tools imported as modules, the custom-dataset guide's configs.
These read the checkout (``REPO_ROOT``: configs/, tools/, docs/), as an editable install has it."""

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Dict

import torch
from mmengine.config import Config


REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / 'configs'


def load_config(rel_path: str, without_pretrained: bool = True) -> Config:
    """A zoo config with its ImageNet initialisation removed (no weights offline)."""
    cfg = Config.fromfile(str(CONFIG_DIR / rel_path))
    if without_pretrained:
        cfg.model.backbone.init_cfg = None
    return cfg


def build_model(config: str, device: str = 'meta') -> torch.nn.Module:
    """The model of a zoo config in eval mode, by default on the meta device (no memory, no
    initialisation: :func:`assign_weights` gives it its tensors)."""
    from mmdet.registry import MODELS

    with torch.device(device):
        return MODELS.build(load_config(config).model).eval()


def random_detector(cfg: Config, seed: int = 3) -> torch.nn.Module:
    """The detector of ``cfg`` in eval mode with random weights of plausible scale and FCOS
    scales of 8, so that it detects objects of every size (on real photographs: on noise images
    random weights amplify float32 rounding)."""
    from mmdet.registry import MODELS

    from .centermask2_layout import random_values

    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    state = random_values(model.state_dict(), seed=seed)
    for key in state:
        if '.scales.' in key:
            state[key] = torch.full_like(state[key], 8.0)
    model.load_state_dict(state)
    return model.eval()


def save_initialised_checkpoint(config: Path, path: Path, seed: int = 0) -> Path:
    """Save the ``init_weights`` of ``config``'s model (seeded) as a checkpoint without meta:
    a model that runs, for tools that take a checkpoint."""
    from mmdet.registry import MODELS

    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def assign_weights(module: torch.nn.Module,
                   state_dict: Dict[str, torch.Tensor]) -> torch.nn.Module:
    """Load with ``strict=True``, taking the tensors over (so meta modules become real)."""
    module.load_state_dict(state_dict, strict=True, assign=True)
    return module


def load_tool(name: str, folder: str = 'tools/model_converters') -> ModuleType:
    """Import ``<folder>/<name>.py`` (a command-line tool) as a module."""
    spec = importlib.util.spec_from_file_location(f'tools_{name}',
                                                  REPO_ROOT / folder / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def walkthrough_config(first_line_start: str) -> str:
    """The python block of the custom-dataset guide whose first line starts with
    ``first_line_start``."""
    guide = (REPO_ROOT / 'docs' / 'user_guides' / 'own_dataset.md').read_text(encoding='utf-8')
    blocks = re.findall(r'```python\n(.*?)```', guide, re.S)
    block, = [b for b in blocks if b.startswith(first_line_start)]
    return block
