"""The opt-in of pure-Python configs to :mod:`mmdet_centermask.compat`."""
from mmengine.hooks import Hook

from mmdet.registry import HOOKS


@HOOKS.register_module()
class CompatFixesHook(Hook):
    """Applies the fixes of :mod:`mmdet_centermask.compat` that the running stack needs.

    Classic configs opt in with ``custom_imports`` (imported when the config is read); mmengine
    does not import ``custom_imports`` of pure-Python configs, which opt in with this hook
    instead. The Runner builds it in its constructor, after setting up the (distributed)
    environment and before it loads a checkpoint, builds a dataloader or an AMP optimiser
    wrapper, which is where every fix except ``cpu_distributed`` acts; for a distributed run on a
    CPU machine, start from our ``tools/train.py`` or a classic config.
    """

    priority = 'VERY_HIGHEST'

    def __init__(self) -> None:
        from mmdet_centermask.compat import apply_compat_fixes
        self.applied = apply_compat_fixes()
