"""Paths the tools write: never one of their inputs."""

import os
from typing import Optional

from ..utils.errors import UserInputError


def same_file(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` name one file: the same resolved path
    (symlinks followed), or, where both exist, the same inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def check_output(output: str, what: str, **inputs: Optional[str]) -> None:
    """Refuse to write ``output`` over one of ``inputs`` (name -> path).

    Raises:
        UserInputError: one line naming both.
    """
    for name, path in inputs.items():
        if path and same_file(output, path):
            raise UserInputError(
                f'{what} {output} is the {name} ({path}): writing it would '
                f'destroy the {name}; give another output path'
            )
