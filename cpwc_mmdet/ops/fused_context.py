"""The fused CPWC context unit: ``out += s1(x) + s2(s1(x))`` in one pass.

A C++ kernel (``csrc/cpwc_context.cpp``, built by ``pip install -e .``) for
CPU float32 channels_last inference. It computes exactly the function of
the PyTorch path (``torch_context``, to float rounding); ``context_unit``
runs it whenever no gradient is needed and the tensors qualify.

The kernel is built once per instruction set (``setup.py``); the best build
the CPU runs is used (``fused_context_isa()`` names it), or the one that
``CPWC_KERNEL_ISA=scalar|avx2|avx512`` names.
"""

import contextlib
import functools
import importlib
import os
from types import ModuleType
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .cpu_isa import KERNEL_ISAS, runnable_isas


def _import_build(isa: str) -> ModuleType:
    """The kernel's extension module for ``isa`` (ImportError if unbuilt);
    import only what the CPU runs: its module initialisation may use the
    instruction set."""
    return importlib.import_module(f'{__package__}._cpwc_context_{isa}')


def _load_kernel() -> Tuple[Optional[ModuleType], Optional[str]]:
    """``(build, None)``, or ``(None, why there is none)``: the best build
    the CPU runs, or the one ``CPWC_KERNEL_ISA`` names."""
    candidates = runnable_isas()
    requested = os.environ.get('CPWC_KERNEL_ISA')
    if requested:
        if requested not in KERNEL_ISAS:
            return None, (
                f'CPWC_KERNEL_ISA={requested!r} is not one of '
                f'{", ".join(KERNEL_ISAS)}'
            )
        if requested not in candidates:
            return None, (
                f'CPWC_KERNEL_ISA={requested}: this CPU runs only '
                f'{", ".join(candidates)}'
            )
        candidates = [requested]
    errors = []
    for isa in candidates:
        try:
            return _import_build(isa), None
        except ImportError as error:
            errors.append(str(error))
    # not built: pure-PyTorch path only
    return None, f'extension not built ({"; ".join(errors)})'


_kernel, _IMPORT_ERROR = _load_kernel()


def fused_context_reason() -> Optional[str]:
    """Why the fused kernel is unavailable, or None if it is available."""
    return _IMPORT_ERROR


def fused_context_available() -> bool:
    """Whether the fused kernel is built for this CPU."""
    return _IMPORT_ERROR is None


def fused_context_isa() -> Optional[str]:
    """The instruction set of the kernel build in use (``'avx512'``,
    ``'avx2'`` or ``'scalar'``), or None if the kernel is unavailable."""
    return _kernel.isa if fused_context_available() else None


def kernel_builds() -> Dict[str, ModuleType]:
    """Every build of the kernel that is built and that this CPU runs, by
    instruction set, best first (tests run each one)."""
    builds = {}
    for isa in runnable_isas():
        try:
            builds[isa] = _import_build(isa)
        except ImportError:
            pass
    return builds


@contextlib.contextmanager
def use_kernel_isa(isa: str) -> Iterator[None]:
    """Within the block, the fused kernel is the build for ``isa`` (tests,
    benchmarks; ``CPWC_KERNEL_ISA`` does it for a whole process).

    Raises:
        RuntimeError: if that build is not built or the CPU does not run it.
    """
    global _kernel, _IMPORT_ERROR
    builds = kernel_builds()
    if isa not in builds:
        raise RuntimeError(
            f'no {isa!r} build of the fused CPWC kernel for '
            f'this CPU (built and runnable: '
            f'{", ".join(builds) or "none"})'
        )
    saved = _kernel, _IMPORT_ERROR
    _kernel, _IMPORT_ERROR = builds[isa], None
    try:
        yield
    finally:
        _kernel, _IMPORT_ERROR = saved


@functools.lru_cache(maxsize=None)
def segment_tensor(segments: Tuple[int, ...]) -> Tensor:
    """The kernel's ``(S, 4)`` int64 segment table from the flattened rows
    (``cpwc_groups.segment_rows``), made once per table."""
    return torch.tensor(segments, dtype=torch.int64).view(-1, 4)


def qualifies(x: Tensor) -> bool:
    """Whether the kernel is available and takes an input like ``x``:
    ``(N, C, H, W)`` CPU float32 (it must also be channels_last)."""
    return (
        _kernel is not None
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
    if _kernel is None:
        raise RuntimeError(f'fused CPWC kernel unavailable: {_IMPORT_ERROR}')
    w2 = w1.new_empty(0) if w2 is None else tap_major(w2)  # empty: no s2
    args = (out, x, tap_major(w1), w2, segment_tensor(tuple(segments)))
    if torch.autograd._profiler_enabled():  # named in profiles
        with torch.profiler.record_function('cpwc::fused_context_unit_'):
            _kernel.context_unit_(*args, stride)
    else:  # a record_function costs 6 us per call even when nobody listens
        _kernel.context_unit_(*args, stride)
    return out
