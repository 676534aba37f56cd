"""The context unit as the spec writes it: one 3x3 filter per output
channel ``z`` over its input group ``G(z)``, a loop over ``z`` (slow; the
reference the kernels are checked against, in the tests and in
``tools/analysis_tools/gpu_check.py``)."""

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .cpwc_groups import group_members


def context_unit_spec(
    x: Tensor,
    base: Optional[Tensor],
    w1: Tensor,
    w2: Optional[Tensor],
    segments: Sequence[int],
    stride: int,
) -> Tensor:
    """``base + s1(x) + s2(s1(x))`` with ``context_unit``'s arguments,
    stage 1 computed one output channel at a time (float32 or float64)."""
    channels = x.shape[1]
    z_count = sum(segments[2::4])
    kernels = w1.reshape(-1, 3, 3)
    outs = []
    for z, members in enumerate(group_members(channels, z_count)):
        # members are input channels (Z <= C) or output channels (Z > C)
        rows = members if z_count <= channels else [z]
        outs.append(
            F.conv2d(
                x[:, members],
                kernels[rows].unsqueeze(0),
                stride=stride,
                padding=1,
            )
        )
    s1 = torch.cat(outs, dim=1)
    out = s1 if base is None else base + s1
    if w2 is not None:
        out = out + F.conv2d(
            s1, w2.reshape(-1, 1, 3, 3), padding=1, groups=z_count
        )
    return out
