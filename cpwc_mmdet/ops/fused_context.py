"""The fused CPWC context unit: ``out += s1(x) + s2(s1(x))`` in one pass.

A C++ kernel (``csrc/cpwc_context.cpp``, built by ``pip install -e .``) for
CPU float32 channels_last inference. It computes exactly the function of
the PyTorch path (``torch_context``, to float rounding); ``context_unit``
runs it whenever no gradient is needed and the tensors qualify.

The kernel lives in the CPU build of ``cpu_kernels``.
"""

import functools
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from . import cpu_kernels


@functools.lru_cache(maxsize=None)
def segment_tensor(segments: Tuple[int, ...]) -> Tensor:
    """The kernel's ``(S, 4)`` int64 segment table from the flattened rows
    (``cpwc_groups.segment_rows``), made once per table."""
    return torch.tensor(segments, dtype=torch.int64).view(-1, 4)


def qualifies(x: Tensor) -> bool:
    """Whether the kernel is available and takes an input like ``x``:
    ``(N, C, H, W)`` CPU float32 (it must also be channels_last)."""
    return (
        cpu_kernels.module is not None
        and x.device.type == 'cpu'
        and x.dtype == torch.float32
        and x.dim() == 4
    )


def tap_major(kernels: Tensor) -> Tensor:
    """``(members, 9)`` 3x3 kernels as the kernel's ``(9, members)``
    float32 (a copy of a few kilobytes)."""
    return kernels.detach().t().contiguous().float()


def fused_context_unit_(
    out: Tensor,
    x: Tensor,
    w1: Tensor,
    w2: Optional[Tensor],
    segments: Sequence[int],
    stride: int,
) -> Tensor:
    """``out += s1(x) + s2(s1(x))`` in place (``s2`` omitted if w2 is None).

    Args:
        out (Tensor): ``(N, Z, H', W')`` channels_last float32, accumulated.
        x (Tensor): ``(N, C, H, W)`` channels_last float32.
        w1 (Tensor): ``(M, 9)`` stage-1 member kernels.
        w2 (Tensor | None): ``(Z, 9)`` stage-2 kernels.
        segments (tuple[int]): the segment table (``segment_rows``).
        stride (int): stride of stage 1.

    Returns:
        Tensor: ``out``.
    """
    kernel = cpu_kernels.module
    if kernel is None:
        raise RuntimeError(f'CPU kernels unavailable: {cpu_kernels.reason}')
    w2 = w1.new_empty(0) if w2 is None else tap_major(w2)  # empty: no s2
    args = (out, x, tap_major(w1), w2, segment_tensor(tuple(segments)))
    if torch.autograd._profiler_enabled():  # named in profiles
        with torch.profiler.record_function('cpwc::fused_context_unit_'):
            kernel.context_unit_(*args, stride)
    else:  # a record_function costs 6 us per call even when nobody listens
        kernel.context_unit_(*args, stride)
    return out
