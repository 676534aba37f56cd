"""The fused CPWC context unit: ``out += s1(x) + s2(s1(x))`` in one pass.

A C++ kernel (``csrc/cpwc_context.cpp``, built by ``pip install -e .``) for
CPU float32 channels_last inference. It computes exactly the function of
``CPWConv2d``'s PyTorch path (to float rounding); ``CPWConv2d`` uses it
whenever no gradient is needed and the tensors qualify, and falls back to
PyTorch otherwise. ``CPWC_FUSED=0`` in the environment turns it off.

The kernel is built once per instruction set (``setup.py``); the best build
the CPU runs is used (``fused_context_isa()`` names it), or the one that
``CPWC_KERNEL_ISA=scalar|avx2|avx512`` names (tests, benchmarks).
"""

import contextlib
import importlib
import os
from types import ModuleType
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

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
    if os.environ.get('CPWC_FUSED', '1') == '0':
        return 'disabled by CPWC_FUSED=0'
    return _IMPORT_ERROR


def fused_context_available() -> bool:
    """Whether the fused kernel is built and enabled."""
    return fused_context_reason() is None


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


def segment_table(
    segments: Sequence, in_channels: int, out_channels: int
) -> Tensor:
    """``(S, 4)`` int64 rows ``(member start, z start, z count, width)``.

    Width is the group size ``r`` for Z <= C (members are input channels),
    and the repeat count ``e`` of each input channel for Z > C (members are
    output channels); see the kernel's header comment.
    """
    rows, z_start = [], 0
    for seg in segments:
        if out_channels <= in_channels:
            width = seg.in_channels // seg.groups
        else:
            width = seg.out_channels // seg.in_channels
        rows.append((seg.in_start, z_start, seg.out_channels, width))
        z_start += seg.out_channels
    return torch.tensor(rows, dtype=torch.int64)


def tap_major(kernels: List[Tensor]) -> Tensor:
    """Concatenated 3x3 kernels ``(members, ..., 3, 3)`` as ``(9, members)``."""
    flat = torch.cat([k.reshape(-1, 9) for k in kernels])
    return flat.t().contiguous().float()


def qualifies(x: Tensor, channels_last: bool = True) -> bool:
    """Whether the kernel is available and takes this input: ``(N, C, H, W)``
    CPU float32, channels_last contiguous (layout not checked if
    ``channels_last`` is False: the caller is about to convert it)."""
    return (
        fused_context_available()
        and x.device.type == 'cpu'
        and x.dtype == torch.float32
        and x.dim() == 4
        and (
            not channels_last
            or x.is_contiguous(memory_format=torch.channels_last)
        )
    )


def is_exporting() -> bool:
    """Whether the forward is being scripted, traced or exported to ONNX,
    which must see the PyTorch convs, not the extension call."""
    return (
        torch.jit.is_scripting()
        or torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
    )


def fused_context_unit_(
    out: Tensor,
    x: Tensor,
    w1: Tensor,
    w2: Optional[Tensor],
    segments: Tensor,
    stride: int,
) -> Tensor:
    """``out += s1(x) + s2(s1(x))`` in place (``s2`` omitted if w2 is None).

    Args:
        out (Tensor): ``(N, Z, H', W')`` channels_last float32, accumulated.
        x (Tensor): ``(N, C, H, W)`` channels_last float32.
        w1 (Tensor): ``(9, M)`` stage-1 member kernels (``tap_major``).
        w2 (Tensor | None): ``(9, Z)`` stage-2 kernels (``tap_major``).
        segments (Tensor): ``segment_table`` of the layer.
        stride (int): stride of stage 1.

    Returns:
        Tensor: ``out``.
    """
    if _kernel is None:
        raise RuntimeError(f'fused CPWC kernel unavailable: {_IMPORT_ERROR}')
    if w2 is None:
        w2 = w1.new_empty(0)  # the kernel's "no stage 2"
    if torch.autograd._profiler_enabled():  # named in profiles
        with torch.profiler.record_function('cpwc::fused_context_unit_'):
            _kernel.context_unit_(out, x, w1, w2, segments, stride)
    else:  # a record_function costs 6 us per call even when nobody listens
        _kernel.context_unit_(out, x, w1, w2, segments, stride)
    return out
