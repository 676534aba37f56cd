"""Saving a matplotlib figure as the project writes every file: whole or
absent, never through a planted symlink (:mod:`..utils.atomic_files`)."""

import os

from ..utils.atomic_files import atomic_write_with


def save_figure(fig, path: str, dpi: int = 100) -> str:
    """Write ``fig`` to ``path`` atomically, in the format its extension
    names (png when it names none); returns ``path``."""
    ext = os.path.splitext(path)[1].lstrip('.').lower() or 'png'
    atomic_write_with(path, lambda f: fig.savefig(f, format=ext, dpi=dpi))
    return path
