"""Fix 6: ``mmdet_centermask::`` config bases.

mmengine resolves ``package::path`` only for the OpenMMLab packages of its fixed table
``MODULE2PACKAGE`` (``AssertionError: mmengine does not support to load mmdet_centermask
config``). ``mmdet_centermask`` joins the table, so that a classic config can start from
``_base_ = 'mmdet_centermask::centermask/<config>.py'`` (found in the package's ``.mim/configs``:
the wheel's copy, or the checkout's ``configs/`` through the ``.mim`` links of an editable
install); its dicts get ``_scope_='mmdet'``, the registries our parts are in. It works wherever
this fix is applied before the config is read (our tools; mmdet's read the bases before the
config's ``custom_imports`` run).
"""
import functools

from mmengine.config import Config
from mmengine.config import utils as config_utils

from .fix import CompatFix

PACKAGE = 'mmdet_centermask'


def _unknown_to_mmengine() -> bool:
    return PACKAGE not in config_utils.MODULE2PACKAGE


def _resolve_own_bases_in_mmdet_scope() -> None:
    config_utils.MODULE2PACKAGE[PACKAGE] = PACKAGE
    get_cfg_path = Config._get_cfg_path

    @functools.wraps(get_cfg_path)
    def get_cfg_path_in_mmdet_scope(cfg_path: str, filename: str):
        path, scope = get_cfg_path(cfg_path, filename)
        return path, 'mmdet' if scope == PACKAGE else scope

    Config._get_cfg_path = staticmethod(get_cfg_path_in_mmdet_scope)


FIX = CompatFix(
    name='own_config_bases',
    summary='mmdet_centermask:: config bases resolve, in the mmdet scope',
    applies_to="mmengine whose MODULE2PACKAGE lacks mmdet_centermask (every release)",
    unnecessary_since='none: the table is fixed in mmengine',
    is_needed=_unknown_to_mmengine,
    apply=_resolve_own_bases_in_mmdet_scope)
