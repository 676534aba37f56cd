"""Every argument check of the package, in one place.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong type) whose
message starts with the argument's name, so a bad config fails on one line.
Pure functions: nothing here imports model code.
"""

from typing import Any, Mapping, Optional, Tuple, Union

#: the spatial conv types of the CoC poster's rows (``conv_type``)
CONV_TYPES = ('coc', 'stnd', 'orth')
#: CoCConv2d's hyper-parameters (``coc_cfg``)
COC_CFG_KEYS = ('sa', 'sk_plus', 'skip', 'dilat', 'stnd', 'orth')
#: CPWConv2d's options (``cpwc_cfg``) and their defaults
DEFAULT_CPWC_CFG = dict(stage2=True, pwc=True)


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


def check_conv_type(conv_type: Any) -> str:
    """Return ``conv_type`` if it is one of :data:`CONV_TYPES`."""
    if conv_type not in CONV_TYPES:
        raise ValueError(
            f'conv_type must be one of {sorted(CONV_TYPES)}, got {conv_type!r}'
        )
    return conv_type


def check_coc_cfg(coc_cfg: Optional[dict]) -> dict:
    """Reject unknown keys of ``coc_cfg`` (values are checked by the layer)."""
    if coc_cfg is not None and not isinstance(coc_cfg, dict):
        raise TypeError(f'coc_cfg must be a dict, got {coc_cfg!r}')
    coc_cfg = dict(coc_cfg or {})
    unknown = set(coc_cfg) - set(COC_CFG_KEYS)
    if unknown:
        raise ValueError(
            f'coc_cfg has unknown keys {sorted(unknown)}; '
            f'allowed: {list(COC_CFG_KEYS)}'
        )
    return coc_cfg


def parse_cpwc_cfg(cpwc_cfg: Optional[dict]) -> dict:
    """``cpwc_cfg`` filled with defaults; unknown keys or non-bool values
    raise one line."""
    cfg = dict(DEFAULT_CPWC_CFG)
    if cpwc_cfg is None:
        return cfg
    if not isinstance(cpwc_cfg, dict):
        raise TypeError(f'cpwc_cfg must be a dict, got {cpwc_cfg!r}')
    unknown = set(cpwc_cfg) - set(DEFAULT_CPWC_CFG)
    if unknown:
        raise ValueError(
            f'cpwc_cfg has unknown keys {sorted(unknown)}; '
            f'allowed: {sorted(DEFAULT_CPWC_CFG)}'
        )
    cfg.update(cpwc_cfg)
    for key, value in cfg.items():
        check_bool(f'cpwc_cfg.{key}', value)
    return cfg
