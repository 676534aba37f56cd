"""Argument checks mmdet's ResNet makes with asserts or KeyErrors."""


def check_depth(depth, arch_settings: dict) -> None:
    """Raise a one-line ValueError naming ``depth`` if it has no arch."""
    if depth not in arch_settings:
        raise ValueError(f'depth must be one of {sorted(arch_settings)}, '
                         f'got {depth!r}')
