"""CPWC's context unit by PyTorch convs: the reference implementation, and
the one that runs wherever the kernels do not (training on CPU, export,
float64, ...).

The arguments are ``context_unit``'s: ``w1`` holds one 3x3 kernel per
stage-1 member (``(M, 9)``), ``segments`` the layer's segment table
(``cpwc_groups.segment_rows``). Each segment is one grouped conv over a
slice of the input; its weight is a slice of ``w1`` (a view).
"""

from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def _rows(segments: Sequence[int]) -> List[Sequence[int]]:
    return [segments[i : i + 4] for i in range(0, len(segments), 4)]


def stage1(
    x: Tensor, w1: Tensor, segments: Sequence[int], stride: int
) -> Tensor:
    """Stage 1: ``(N, C, H, W) -> (N, Z, H', W')``, one 3x3 filter per
    output channel over its input group.

    A segment whose groups read ``r > 1`` channels (Z < C) runs as one
    depthwise conv over its channels and a sum over each group's ``r``
    outputs: the same function as the grouped conv, and several times
    faster on CPUs (oneDNN's grouped conv with few channels per group is
    slow). Other segments run as grouped convs.
    """
    channels = x.shape[1]
    expand = sum(row[2] for row in _rows(segments)) > channels
    outs = []
    for c0, z0, count, width in _rows(segments):
        if expand:  # Z > C: members are the outputs, e per input channel
            in_channels = count // width
            kernel = w1[z0 : z0 + count].view(count, 1, 3, 3)
        else:  # Z <= C: members are the inputs, r per output channel
            in_channels = count * width
            kernel = w1[c0 : c0 + in_channels].view(in_channels, 1, 3, 3)
        part = x if in_channels == channels else x[:, c0 : c0 + in_channels]
        out = F.conv2d(part, kernel, None, stride, 1, 1, in_channels)
        if not expand and width > 1:  # the sum over each group's members
            out = out.unflatten(1, (count, width)).sum(2)
        outs.append(out)
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)


def context_unit_torch(
    x: Tensor,
    base: Optional[Tensor],
    w1: Tensor,
    w2: Optional[Tensor],
    segments: Sequence[int],
    stride: int,
) -> Tensor:
    """``base + s1(x) + s2(s1(x))`` by PyTorch convs (``context_unit``'s
    arguments). The sums accumulate in place into ``base`` (no conv needs
    its own output for backward), which saves two large allocations."""
    context = stage1(x, w1, segments, stride)
    extra = None
    if w2 is not None:
        z = w2.shape[0]
        extra = F.conv2d(context, w2.view(z, 1, 3, 3), None, 1, 1, 1, z)
    if base is None:
        return context if extra is None else context + extra
    base += context
    if extra is not None:
        base += extra
    return base
