from .dist import close_process_group
from .tool_config import image_test_pipeline, load_tool_config

__all__ = ['close_process_group', 'image_test_pipeline', 'load_tool_config']
