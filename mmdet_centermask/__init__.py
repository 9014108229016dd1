"""CenterMask and VoVNetV2 for MMDetection 3.x.

Importing this package checks that the installed mmengine, mmcv and mmdet lie in the supported
window (:mod:`mmdet_centermask.stack_window`) and registers every model part into mmdet's own
registries (``mmdet.registry.MODELS``); it changes nothing of mmengine's or mmdet's behaviour.
The fixes the running stack needs are opt-in: :mod:`mmdet_centermask.compat`.
"""
from .stack_window import check_stack_window
from .version import __version__

check_stack_window()

from .datasets import *  # noqa: E402,F401,F403
from .engine import *  # noqa: E402,F401,F403
from .models import *  # noqa: E402,F401,F403

__all__ = ['__version__']
