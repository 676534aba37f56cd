"""Build a CoC / stnd / orth conv in place of an existing k>1 conv."""
from typing import Optional

import torch.nn as nn

from ..utils.conv_replacement import is_spatial, replace_convs
from .coc_conv import CoCConv2d
from .weight_norm_convs import OrthConv2d, StndConv2d

CONV_TYPES = {'coc': CoCConv2d, 'stnd': StndConv2d, 'orth': OrthConv2d}
COC_CFG_KEYS = ('sa', 'sk_plus', 'skip', 'dilat', 'stnd', 'orth')


def check_conv_type(conv_type: str) -> str:
    """Return ``conv_type`` if known, else a one-line ValueError."""
    if conv_type not in CONV_TYPES:
        raise ValueError(f'conv_type must be one of {sorted(CONV_TYPES)}, '
                         f'got {conv_type!r}')
    return conv_type


def check_coc_cfg(coc_cfg: Optional[dict]) -> dict:
    """Reject unknown keys of ``coc_cfg`` (values are checked by the layer)."""
    coc_cfg = dict(coc_cfg or {})
    unknown = set(coc_cfg) - set(COC_CFG_KEYS)
    if unknown:
        raise ValueError(f'coc_cfg has unknown keys {sorted(unknown)}; '
                         f'allowed: {list(COC_CFG_KEYS)}')
    return coc_cfg


def spatial_conv_from(conv: nn.Conv2d, conv_type: str,
                      coc_cfg: Optional[dict] = None) -> nn.Module:
    """A ``conv_type`` layer with ``conv``'s geometry (``coc_cfg`` for coc)."""
    kwargs = dict(
        stride=conv.stride[0],
        padding=conv.padding[0],
        dilation=conv.dilation[0],
        groups=conv.groups,
        bias=conv.bias is not None)
    if conv_type == 'coc':
        kwargs.update(coc_cfg or {})
    layer = CONV_TYPES[conv_type](conv.in_channels, conv.out_channels,
                                  conv.kernel_size[0], **kwargs)
    return layer.to(conv.weight.device, conv.weight.dtype)


def convert_spatial_convs(module: nn.Module, conv_type: str,
                          coc_cfg: Optional[dict] = None) -> int:
    """Turn every k>1 ``nn.Conv2d`` under ``module`` into ``conv_type``.

    Returns:
        int: how many convs were converted.
    """
    check_conv_type(conv_type)
    coc_cfg = check_coc_cfg(coc_cfg)
    return replace_convs(module, is_spatial,
                         lambda conv: spatial_conv_from(conv, conv_type,
                                                        coc_cfg))
