"""Fix 2: ``mmdet::`` config bases without ``pkg_resources``.

OpenMMLab's mmengine (0.10.7) looks installed packages up with ``pkg_resources``
(``is_installed``, ``get_installed_path``, ``package2module`` in ``mmengine.utils``), which
setuptools deprecated and removed in release 82: ``mmdet::`` bases then fail with
``ModuleNotFoundError: pkg_resources``. Where mmengine's lookups still use it, they are
replaced by :mod:`importlib.metadata` equivalents, in ``mmengine.utils.package_utils`` and in
every loaded mmengine module that imported them by name. They also find packages installed in
editable mode, and distributions that install ``mmdet`` under another name
(``onedl-mmdetection``).
"""
import importlib.metadata
import importlib.util
import os.path as osp

from mmengine.utils import package_utils

from .fix import CompatFix, replace_in_mmengine_modules, source_mentions


def is_installed(package: str) -> bool:
    """``mmengine.utils.is_installed`` without ``pkg_resources``.

    Args:
        package (str): Distribution name, or a module name found on ``sys.path``.
    """
    try:
        importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None
    return True


def package2module(package: str) -> str:
    """``mmengine.utils.package_utils.package2module`` without ``pkg_resources``.

    Args:
        package (str): Distribution name, e.g. ``'mmcv-full'``.

    Returns:
        str: Its first top-level module, e.g. ``'mmcv'``.
    """
    top_level = importlib.metadata.distribution(package).read_text('top_level.txt')
    if not top_level:
        raise ValueError(f'can not infer the module name of {package}')
    return top_level.split('\n')[0]


def get_installed_path(package: str) -> str:
    """``mmengine.utils.get_installed_path`` without ``pkg_resources``.

    Args:
        package (str): Distribution name, or a module name found on ``sys.path``.

    Returns:
        str: Directory of the installed package.
    """
    try:
        distribution = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        if spec is None:
            raise
        if spec.origin is None:
            raise RuntimeError(f'{package} is a namespace package, which is invalid for '
                               '`get_install_path`') from None
        return osp.dirname(spec.origin)
    location = osp.abspath(str(distribution.locate_file('')))
    possible_path = osp.join(location, package)
    if osp.exists(possible_path):
        return possible_path
    module = package2module(package)
    if osp.exists(osp.join(location, module)):
        return osp.join(location, module)
    # an editable install keeps the package outside site-packages
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f'cannot find the installed files of {package}')
    return spec.submodule_search_locations[0]


REPLACEMENTS = dict(
    is_installed=is_installed, get_installed_path=get_installed_path,
    package2module=package2module)


def _uses_pkg_resources() -> bool:
    return any(
        source_mentions(getattr(package_utils, name), 'pkg_resources') for name in REPLACEMENTS)


def _replace_lookups() -> None:
    for name, replacement in REPLACEMENTS.items():
        replace_in_mmengine_modules(getattr(package_utils, name), replacement)


FIX = CompatFix(
    name='package_lookup',
    summary="mmengine's package lookups (mmdet:: bases) use importlib.metadata",
    applies_to="mmengine whose package_utils import pkg_resources (OpenMMLab's 0.10.7)",
    unnecessary_since='mmengine main and onedl-mmengine 0.10.12 use importlib.metadata',
    is_needed=_uses_pkg_resources,
    apply=_replace_lookups)
