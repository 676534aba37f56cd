"""One-line argument checks shared by the layers.

Every check raises ``ValueError`` (or ``TypeError`` for a wrong type) whose
message starts with the argument's name, so a bad config fails on one line.
"""
from typing import Any, Tuple, Union


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` if it is an int > 0, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int, got {value!r}')
    if value <= 0:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool, else raise naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f'{name} must be True or False, got {value!r}')
    return value


def to_square(name: str, value: Union[int, Tuple[int, int]]) -> int:
    """Turn an int or an equal pair into one positive int, naming ``name``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f'{name} must be an int or a square pair, '
                             f'got {value!r}')
        value = value[0]
    return check_positive_int(name, value)
