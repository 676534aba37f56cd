"""Swap the convolutions of a built network for other layers, in place.

Backbones here are mmdet's own classes with some convs swapped after they are
built, so every mmdet argument (and ``zero_init_residual``, which mmdet ties to
its own block classes) keeps working.
"""
from typing import Callable, Optional

import torch.nn as nn


def is_pointwise(conv: nn.Module) -> bool:
    """True for a dense, unpadded 1x1 ``nn.Conv2d`` (what CPWC replaces)."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (1, 1)
            and conv.groups == 1 and conv.padding == (0, 0)
            and conv.dilation == (1, 1))


def is_spatial(conv: nn.Module) -> bool:
    """True for an ``nn.Conv2d`` whose kernel is larger than 1x1 (what CoC
    replaces)."""
    return type(conv) is nn.Conv2d and max(conv.kernel_size) > 1


def replace_convs(module: nn.Module,
                  select: Callable[[nn.Module], bool],
                  make: Callable[[nn.Conv2d], Optional[nn.Module]]) -> int:
    """Replace every child conv ``c`` with ``select(c)`` by ``make(c)``.

    Args:
        module (nn.Module): the network, changed in place.
        select (callable): which modules to replace.
        make (callable): builds the replacement from the old conv; returning
            None keeps the old conv.

    Returns:
        int: how many convs were replaced.
    """
    count = 0
    for name, child in list(module.named_children()):
        if select(child):
            new = make(child)
            if new is not None:
                setattr(module, name, new)
                count += 1
        else:
            count += replace_convs(child, select, make)
    return count
