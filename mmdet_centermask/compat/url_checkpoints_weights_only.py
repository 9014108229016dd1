"""Fix 11: checkpoints downloaded by URL load weights-only too.

mmengine's ``load_from_http`` (behind ``load_from`` and ``init_cfg=dict(type='Pretrained')`` with
an ``http(s)://``, ``open-mmlab://`` or ``torchvision://`` checkpoint, as the zoo's backbones
are) calls ``torch.hub.load_state_dict_from_url`` without ``weights_only``, whose default is
``False``: a downloaded file runs whatever code it pickles. Where that is so, mmengine's
checkpoint module calls it with ``weights_only=True`` (torch's restricted unpickler with the
allow-list of :mod:`~mmdet_centermask.compat.checkpoint_allow_list`); an explicit
``weights_only`` passes through.
"""
import functools
import inspect

from mmengine.runner import checkpoint

from .fix import CompatFix


def _downloads_load_unrestricted() -> bool:
    parameter = inspect.signature(checkpoint.load_url).parameters.get('weights_only')
    return parameter is not None and parameter.default is False


def _download_weights_only() -> None:
    load_url = checkpoint.load_url

    @functools.wraps(load_url)
    def load_url_weights_only(*args, weights_only: bool = True, **kwargs):
        return load_url(*args, weights_only=weights_only, **kwargs)

    checkpoint.load_url = load_url_weights_only


FIX = CompatFix(
    name='url_checkpoints_weights_only',
    summary='checkpoints downloaded by URL (load_from, Pretrained init) load weights-only',
    applies_to="mmengine whose load_from_http calls torch.hub's load_state_dict_from_url, "
    'whose weights_only defaults to False (mmengine 0.10.7, onedl-mmengine 0.10.12, torch 2.13)',
    unnecessary_since='none yet: torch keeps weights_only=False as that default',
    is_needed=_downloads_load_unrestricted,
    apply=_download_weights_only)
