from .compat import apply_compat_patches
from .dist import close_process_group

__all__ = ['apply_compat_patches', 'close_process_group']
