"""CenterMask and VoVNetV2 for MMDetection 3.x.

Importing this package registers every model part into mmdet's own registries
(``mmdet.registry.MODELS``) and applies the compatibility fixes of
:mod:`mmdet_centermask.utils.compat` for the torch / setuptools releases
that mmengine 0.10.7 predates, and summarises mmengine's per-parameter optimiser
messages (:mod:`mmdet_centermask.utils.quiet_logs`).
"""
from .utils import apply_compat_patches, summarise_optimizer_messages
from .version import __version__

apply_compat_patches()
summarise_optimizer_messages()

from .datasets import *  # noqa: E402,F401,F403
from .engine import *  # noqa: E402,F401,F403
from .models import *  # noqa: E402,F401,F403

__all__ = ['__version__', 'apply_compat_patches']
