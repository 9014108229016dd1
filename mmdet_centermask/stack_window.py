"""The mmengine / mmcv / mmdet releases this plugin supports, checked when it is imported.

Two distributions install each of these import packages: OpenMMLab's (``mmengine``, ``mmcv``,
``mmdet``) and OneDL's maintained forks (``onedl-mmengine``, ``onedl-mmcv``,
``onedl-mmdetection``). Like ``mmdet/__init__.py`` with its mmcv window, the plugin does not
make pip install them (``pip install mmdet-centermask`` leaves a working stack as it is) and
instead fails at import, naming what is installed and what to install, where a package is
missing, outside the window, or installed by both distributions over each other.
"""
import importlib.metadata
import importlib.util
from typing import Dict, List, Optional, Tuple

from packaging.version import Version

# import package: (lowest supported, first unsupported, distributions that install it)
WINDOWS: Dict[str, Tuple[str, str, Tuple[str, ...]]] = {
    'mmengine': ('0.10.7', '0.11.0', ('mmengine', 'onedl-mmengine')),
    'mmcv': ('2.1.0', '2.4.0', ('mmcv', 'onedl-mmcv')),
    'mmdet': ('3.3.0', '3.6.0', ('mmdet', 'onedl-mmdetection')),
}
INSTALL_HINT = ("install one stack: pip install 'mmdet-centermask[openmmlab]' (mmengine 0.10.7, "
                "mmcv 2.1.0 with its ops, mmdet 3.3.0) or pip install 'mmdet-centermask[onedl]' "
                '(onedl-mmengine, onedl-mmcv, onedl-mmdetection); mmcv builds its ops from '
                "source (docs/get_started.md)")


class UnsupportedStackError(ImportError):
    """The installed mmengine, mmcv or mmdet is missing or outside the supported window."""


def installed_distributions(package: str) -> List[Tuple[str, str]]:
    """The known distributions that install ``package``, with their versions.

    Args:
        package (str): ``'mmengine'``, ``'mmcv'`` or ``'mmdet'``.

    Returns:
        list[tuple[str, str]]: (distribution, version) for each one installed.
    """
    found = []
    for distribution in WINDOWS[package][2]:
        try:
            found.append((distribution, importlib.metadata.version(distribution)))
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def stack_problem(package: str) -> Optional[str]:
    """What is wrong with the installed ``package``, or ``None`` where it is in the window."""
    low, high, names = WINDOWS[package]
    wanted = f'{package}>={low},<{high} ({" or ".join(names)})'
    found = installed_distributions(package)
    if len(found) > 1:
        listed = ', '.join(f'{name} {version}' for name, version in found)
        return (f'{package} is installed by two distributions over each other ({listed}); '
                f'uninstall both and install one of them: {wanted}')
    if not found:
        if importlib.util.find_spec(package) is not None:
            return None  # importable without metadata (a source checkout): not checkable
        return f'{package} is not installed; mmdet_centermask needs {wanted}'
    name, version = found[0]
    if not Version(low) <= Version(version) < Version(high):
        return f'{name} {version} is installed; mmdet_centermask needs {wanted}'
    return None


def check_stack_window() -> None:
    """Raise :class:`UnsupportedStackError` naming every package outside the window."""
    problems = [problem for problem in map(stack_problem, WINDOWS) if problem]
    if problems:
        raise UnsupportedStackError('; '.join(problems) + f'. To fix it, {INSTALL_HINT}.')
