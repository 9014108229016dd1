# PLACEHOLDER: replaced by the real implementation.


def apply_compat_patches() -> None:
    """Placeholder."""
