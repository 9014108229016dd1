"""The opt-in of pure-Python configs to :mod:`mmdet_centermask.compat`."""
from mmengine.hooks import Hook

from mmdet.registry import HOOKS


@HOOKS.register_module()
class CompatFixesHook(Hook):
    """Applies the fixes of :mod:`mmdet_centermask.compat` that the running stack needs.

    Classic configs opt in with ``custom_imports`` (imported when the config is read); mmengine
    does not import ``custom_imports`` of pure-Python configs, which list this hook instead. Its
    class lives in :mod:`mmdet_centermask.compat`, so that the fixes are applied as soon as a tool
    builds the config's lazy imports (mmdet's ``print_config.py`` does so before it formats the
    config; the Runner while it builds the model and the hooks, after setting up the
    distributed environment and before it loads a checkpoint, builds a dataloader or an AMP
    wrapper). Every fix but ``cpu_distributed`` acts after that; for a distributed run on a CPU
    machine, start from our ``tools/train.py`` or a classic config.
    """

    priority = 'HIGHEST'

    def __init__(self) -> None:
        from . import apply_compat_fixes
        self.applied = apply_compat_fixes()
