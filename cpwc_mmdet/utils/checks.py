"""The argument checks the layers and backbones share.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong type) whose
message starts with the argument's name, so a bad config fails on one line.
Pure functions: nothing here imports model code.
"""

from typing import Any, Mapping, Tuple, Union


class UnknownDepthError(KeyError, ValueError):
    """An unknown ResNet ``depth``.

    A ``KeyError`` as mmdet's ResNet raises, and a ``ValueError`` as every
    other bad argument here; its message is one readable line (a plain
    ``KeyError`` would print its message quoted).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


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
            raise ValueError(
                f'{name} must be an int or a square pair, got {value!r}'
            )
        value = value[0]
    return check_positive_int(name, value)


def check_depth(depth: Any, arch_settings: Mapping) -> None:
    """Raise :class:`UnknownDepthError` naming ``depth`` if it has no arch."""
    if depth not in arch_settings:
        raise UnknownDepthError(
            f'depth must be one of {sorted(arch_settings)}, got {depth!r}'
        )


def has_pretrained_init(init_cfg: Any) -> bool:
    """Whether an mmengine ``init_cfg`` (a dict, a list of them, or None)
    loads a checkpoint (``type='Pretrained'``)."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(
        isinstance(c, Mapping) and c.get('type') == 'Pretrained' for c in cfgs
    )
