"""Checked state-dict conversion shared by the converters of this package.

A conversion maps every source key to a target key by name rules, then compares the result with
the state dict of the target module (built on the meta device, so only names and shapes exist).
:class:`Conversion` records what did not fit; :meth:`Conversion.checked_state_dict` refuses a
partial result unless asked for one.
"""
import argparse
import functools
import json
import os
import os.path as osp
import pickle
import re
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import Tensor

from mmdet.registry import MODELS

# Keys listed per kind of problem before "... and N more".
MAX_LISTED = 20
NUM_BATCHES_TRACKED = 'num_batches_tracked'

Shapes = Dict[str, Tuple[int, ...]]
KeyRule = Tuple[str, Callable[[re.Match], Optional[str]]]


class ConversionError(ValueError):
    """A source that cannot be converted, or a conversion that would be partial."""


@dataclass
class MappedState:
    """Source tensors renamed to target keys.

    Attributes:
        tensors (dict[str, Tensor]): Tensors by target key.
        sources (dict[str, str]): Source key of every target key in ``tensors``.
        unmapped (list[str]): Source keys that no rule maps.
        notes (list[str]): What was dropped or changed on purpose.
    """
    tensors: Dict[str, Tensor]
    sources: Dict[str, str]
    unmapped: List[str]
    notes: List[str] = field(default_factory=list)


@dataclass
class Conversion:
    """A converted state dict and what the comparison with the target found.

    Attributes:
        state_dict (dict[str, Tensor]): Converted tensors by target key, in target order.
        meta (dict): Facts for the checkpoint's ``meta`` (source, target arch, input).
        notes (list[str]): What was dropped, filled or changed on purpose.
        unmapped (list[str]): Source keys that no rule maps.
        unexpected (list[tuple[str, str]]): ``(source key, target key)`` of mapped tensors whose
            target key the target module does not have.
        mismatched (list[tuple[str, tuple, tuple]]): ``(target key, converted shape, target
            shape)`` of tensors of the wrong shape.
        missing (list[str]): Target keys left unfilled.
    """
    state_dict: Dict[str, Tensor]
    meta: dict
    notes: List[str]
    unmapped: List[str]
    unexpected: List[Tuple[str, str]]
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]
    missing: List[str]

    @property
    def complete(self) -> bool:
        """Every source key mapped and every target key filled with the right shape."""
        return not (self.unmapped or self.unexpected or self.mismatched or self.missing)

    def problems(self) -> str:
        """The problems, one paragraph per kind, or ``''`` when complete."""
        sections = [
            ('source keys that no rule maps', self.unmapped),
            ('source keys mapped to keys the target does not have',
             [f'{src} -> {dst}' for src, dst in self.unexpected]),
            ('tensors of the wrong shape',
             [f'{key}: converted {list(got)}, target {list(want)}'
              for key, got, want in self.mismatched]),
            ('target keys left unfilled', self.missing),
        ]
        return '\n'.join(f'{title} ({len(items)}):\n{_listing(items)}'
                         for title, items in sections if items)

    def checked_state_dict(self, allow_partial: bool = False) -> Dict[str, Tensor]:
        """The state dict to save.

        Args:
            allow_partial (bool): Return the tensors that fit the target (dropping unexpected
                and wrongly shaped ones) even if the conversion is not complete.

        Returns:
            dict[str, Tensor]: The converted tensors.

        Raises:
            ConversionError: The conversion is not complete and ``allow_partial`` is False.
        """
        if not self.complete and not allow_partial:
            raise ConversionError(f'{self.problems()}\nrefusing to write a partial checkpoint '
                                  '(pass --allow-partial to write the tensors that fit)')
        unfit = {key for _, key in self.unexpected} | {key for key, _, _ in self.mismatched}
        return {key: value for key, value in self.state_dict.items() if key not in unfit}

    def summary(self) -> str:
        """Notes, problems and the input normalisation the weights expect, for printing."""
        lines = [f'note: {note}' for note in self.notes]
        if not self.complete:
            lines.append(self.problems())
        input_cfg = self.meta.get('input')
        if input_cfg is not None:
            preprocessor = self.meta['data_preprocessor']
            lines.append(
                f'the weights expect {input_cfg["channel_order"]} input normalised with mean '
                f'{input_cfg["mean"]} and std {input_cfg["std"]}: in the config, '
                f"data_preprocessor=dict(type='DetDataPreprocessor', "
                f'mean={preprocessor["mean"]}, std={preprocessor["std"]}, '
                f'bgr_to_rgb={preprocessor["bgr_to_rgb"]}, ...)')
        return '\n'.join(lines)


def _listing(items: List[str]) -> str:
    """Indented lines, at most :data:`MAX_LISTED` of them."""
    lines = [f'  {item}' for item in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        lines.append(f'  ... and {len(items) - MAX_LISTED} more')
    return '\n'.join(lines)


def input_meta(channel_order: str, mean: List[float], std: List[float]) -> dict:
    """Meta entries ``input`` and ``data_preprocessor`` for weights trained on such input.

    Args:
        channel_order (str): ``'BGR'`` or ``'RGB'``, the channel order the first conv expects.
        mean (list[float]): Per-channel mean in that order, in 0..255 pixel units.
        std (list[float]): Per-channel std in that order, in 0..255 pixel units.

    Returns:
        dict: ``input`` (the three facts) and ``data_preprocessor`` (the matching arguments of
        mmdet's ``DetDataPreprocessor``, which reads BGR images).
    """
    return dict(
        input=dict(channel_order=channel_order, mean=mean, std=std),
        data_preprocessor=dict(mean=mean, std=std, bgr_to_rgb=channel_order == 'RGB'))


def load_source_state_dict(path: str) -> Dict[str, Tensor]:
    """Read the weights of a checkpoint file.

    Accepts detectron2 checkpoints (weights under ``'model'``), mmengine ones (under
    ``'state_dict'``) and bare state dicts; numpy arrays become tensors. The file is read with
    ``torch.load(weights_only=True)``.

    Args:
        path (str): Checkpoint file.

    Returns:
        dict[str, Tensor]: The state dict.

    Raises:
        ConversionError: The file holds no state dict or holds pickled objects.
    """
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as error:
        raise ConversionError(
            f'{path}: torch.load(weights_only=True) refused the file ({error}); for a file you '
            'trust, set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1') from error
    if isinstance(checkpoint, dict):
        for container in ('model', 'state_dict'):
            if isinstance(checkpoint.get(container), dict):
                checkpoint = checkpoint[container]
                break
    if not isinstance(checkpoint, dict) or not checkpoint:
        raise ConversionError(f'{path}: no state dict found (a dict of tensors, possibly under '
                              '"model" or "state_dict")')
    state = {}
    for key, value in checkpoint.items():
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if not isinstance(value, Tensor):
            raise ConversionError(f'{path}: entry {key!r} is a {type(value).__name__}, not a '
                                  'tensor, so this is no state dict')
        state[key] = value
    return state


def map_keys(source: Dict[str, Tensor], key_map: Dict[str, Optional[str]],
             dropped: Dict[str, str]) -> MappedState:
    """Rename the source tensors.

    Args:
        source (dict[str, Tensor]): Source state dict.
        key_map (dict[str, str | None]): Target key of every source key, None if unknown.
        dropped (dict[str, str]): Source keys to leave out on purpose, with the reason.

    Returns:
        :obj:`MappedState`: The renamed tensors, unmapped keys and a note per dropped key.

    Raises:
        ConversionError: Two source keys map to the same target key.
    """
    mapped = MappedState(tensors={}, sources={}, unmapped=[])
    for key, value in source.items():
        if key in dropped:
            mapped.notes.append(f'dropped {key}: {dropped[key]}')
            continue
        target = key_map[key]
        if target is None:
            mapped.unmapped.append(key)
        elif target in mapped.tensors:
            raise ConversionError(f'{mapped.sources[target]} and {key} both map to {target}')
        else:
            mapped.tensors[target] = value
            mapped.sources[target] = key
    return mapped


def apply_rules(key: str, rules: Iterable[KeyRule]) -> Optional[str]:
    """The target key given by the first rule whose pattern matches all of ``key``, else None."""
    for pattern, to_target in rules:
        match = re.fullmatch(pattern, key)
        if match:
            return to_target(match)
    return None


def finish_conversion(mapped: MappedState,
                      target_shapes: Shapes,
                      meta: dict,
                      fill: Optional[Callable[[Dict[str, Tensor], Shapes], List[str]]] = None
                      ) -> Conversion:
    """Compare renamed tensors with the target and record what does not fit.

    BN layers that got their statistics but no ``num_batches_tracked`` (detectron2's FrozenBN
    has none) get ``num_batches_tracked = 0``, so the result loads with ``strict=True``.

    Args:
        mapped (:obj:`MappedState`): The renamed tensors.
        target_shapes (dict[str, tuple]): Shape of every key of the target state dict.
        meta (dict): Meta of the converted checkpoint.
        fill (callable, optional): Called with the tensors (to be completed in place) and the
            target shapes; returns notes on what it filled.

    Returns:
        :obj:`Conversion`: The result.
    """
    tensors = dict(mapped.tensors)
    notes = list(mapped.notes)
    if fill is not None:
        notes += fill(tensors, target_shapes)
    counters = [
        key for key in target_shapes if key not in tensors and is_fillable_counter(key, tensors)
    ]
    for key in counters:
        tensors[key] = torch.tensor(0, dtype=torch.long)
    if counters:
        notes.append(f'added num_batches_tracked = 0 to {len(counters)} BN layers')
    order = {key: i for i, key in enumerate(target_shapes)}
    state_dict = {key: tensors[key] for key in sorted(tensors, key=lambda k: order.get(k, -1))}
    return Conversion(
        state_dict=state_dict,
        meta=meta,
        notes=notes,
        unmapped=list(mapped.unmapped),
        unexpected=[(mapped.sources[key], key) for key in tensors if key not in target_shapes],
        mismatched=[(key, tuple(value.shape), target_shapes[key])
                    for key, value in tensors.items()
                    if key in target_shapes and tuple(value.shape) != target_shapes[key]],
        missing=[key for key in target_shapes if key not in tensors])


def is_fillable_counter(key: str, tensors: Dict[str, Tensor]) -> bool:
    """Whether ``key`` is the ``num_batches_tracked`` of a BN whose statistics are converted."""
    return (key.endswith(NUM_BATCHES_TRACKED)
            and key[:-len(NUM_BATCHES_TRACKED)] + 'running_mean' in tensors)


def module_shapes(cfg: dict) -> Shapes:
    """State-dict shapes of the module a config builds from mmdet's registry.

    The module is built on the meta device (no memory, no initialisation); results are cached.

    Args:
        cfg (dict): Module config, JSON-serialisable, e.g. ``dict(type='VoVNet', arch='V-39')``.

    Returns:
        dict[str, tuple[int]]: Shape of every state-dict entry.
    """
    return dict(_module_shapes(json.dumps(cfg, sort_keys=True)))


@functools.lru_cache(maxsize=32)
def _module_shapes(cfg_json: str) -> Tuple[Tuple[str, Tuple[int, ...]], ...]:
    with torch.device('meta'):
        module = MODELS.build(json.loads(cfg_json))
    return tuple((key, tuple(value.shape)) for key, value in module.state_dict().items())


def config_model_shapes(config: Config) -> Shapes:
    """State-dict shapes of the model of an mmdet config, built on the meta device.

    Args:
        config (:obj:`Config`): The config; its ``default_scope`` (default ``'mmdet'``) is
            made the current scope.

    Returns:
        dict[str, tuple[int]]: Shape of every state-dict entry of ``config.model``.
    """
    init_default_scope(config.get('default_scope', 'mmdet'))
    with torch.device('meta'):
        model = MODELS.build(config.model)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def save_checkpoint(path: str, state_dict: Dict[str, Tensor], meta: dict) -> None:
    """Save ``{'meta': meta, 'state_dict': state_dict}`` as mmengine does, creating the folder."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    torch.save(dict(meta=meta, state_dict=state_dict), path)


def add_partial_arguments(parser: argparse.ArgumentParser) -> None:
    """The converters' ``--strict`` (default) / ``--allow-partial`` choice."""
    partial = parser.add_mutually_exclusive_group()
    partial.add_argument(
        '--strict',
        dest='allow_partial',
        action='store_false',
        default=False,
        help='refuse to write a partial checkpoint (default)')
    partial.add_argument(
        '--allow-partial',
        dest='allow_partial',
        action='store_true',
        help='write the tensors that fit even if keys are unmapped, unfilled or of other shapes')


def run_conversion(convert: Callable[[], Conversion], src: str, dst: str,
                   allow_partial: bool) -> Optional[Conversion]:
    """Convert, check and save a checkpoint, printing what was done or what is wrong.

    Args:
        convert (Callable): Runs the conversion of ``src``.
        src (str): The source file, for messages and ``meta['converted_from']``.
        dst (str): Where the mmdet checkpoint is written.
        allow_partial (bool): Write the tensors that fit even if the conversion is incomplete.

    Returns:
        Conversion, optional: The conversion, or None when it failed (nothing written).
    """
    try:
        conversion = convert()
        state_dict = conversion.checked_state_dict(allow_partial)
    except ConversionError as error:
        print(f'error: {src}: {error}', file=sys.stderr)
        return None
    save_checkpoint(dst, state_dict, dict(conversion.meta, converted_from=osp.basename(src)))
    print(conversion.summary())
    print(f'saved {len(state_dict)} tensors to {dst}')
    return conversion
