from .compat import apply_compat_patches
from .dist import close_process_group
from .quiet_logs import summarise_optimizer_messages
from .tool_config import load_tool_config

__all__ = [
    'apply_compat_patches', 'close_process_group', 'load_tool_config',
    'summarise_optimizer_messages'
]
