"""Build a CPWConv2d in place of an existing 1x1 conv."""
from typing import Optional

import torch.nn as nn

from ..utils.conv_replacement import is_pointwise, replace_convs
from .cpwc_conv import CPWConv2d
from .validation import check_bool

DEFAULT_CPWC_CFG = dict(stage2=True, pwc=True)


def parse_cpwc_cfg(cpwc_cfg: Optional[dict]) -> dict:
    """Fill ``cpwc_cfg`` with defaults and reject unknown keys, one line."""
    cfg = dict(DEFAULT_CPWC_CFG)
    if cpwc_cfg is None:
        return cfg
    if not isinstance(cpwc_cfg, dict):
        raise TypeError(f'cpwc_cfg must be a dict, got {cpwc_cfg!r}')
    unknown = set(cpwc_cfg) - set(DEFAULT_CPWC_CFG)
    if unknown:
        raise ValueError(f'cpwc_cfg has unknown keys {sorted(unknown)}; '
                         f'allowed: {sorted(DEFAULT_CPWC_CFG)}')
    cfg.update(cpwc_cfg)
    for key, value in cfg.items():
        check_bool(f'cpwc_cfg.{key}', value)
    return cfg


def cpwc_from_conv(conv: nn.Conv2d, **cpwc_cfg) -> CPWConv2d:
    """A CPWConv2d with ``conv``'s channels, stride and bias setting."""
    return CPWConv2d(
        conv.in_channels,
        conv.out_channels,
        stride=conv.stride[0],
        bias=conv.bias is not None,
        **cpwc_cfg).to(conv.weight.device, conv.weight.dtype)


def convert_pointwise_to_cpwc(module: nn.Module,
                              cpwc_cfg: Optional[dict] = None) -> int:
    """Turn every dense 1x1 conv under ``module`` into a CPWConv2d.

    Returns:
        int: how many convs were converted.
    """
    cfg = parse_cpwc_cfg(cpwc_cfg)
    return replace_convs(module, is_pointwise,
                         lambda conv: cpwc_from_conv(conv, **cfg))
