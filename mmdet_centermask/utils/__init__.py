from .dist import close_process_group
from .tool_config import load_tool_config

__all__ = ['close_process_group', 'load_tool_config']
