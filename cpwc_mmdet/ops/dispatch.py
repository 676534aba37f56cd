"""``context_unit``: CPWC's context unit, by whichever implementation fits.

``out = base + s1(x) + s2(s1(x))``, where ``s1`` is stage 1 (one 3x3 filter
per output channel over its input group), ``s2`` the depthwise 3x3 stage 2
and ``base`` the 1x1 path's output. Three implementations compute it:

* ``cpu-fused``, the C++ kernel (``fused_context``): CPU float32
  channels_last inference (no gradient needed), when it is built;
* ``triton``, the Triton op (``triton_context``): CUDA tensors (float32,
  float16, bfloat16, autocast), when Triton and torch >= 2.4 are there,
  unless deterministic algorithms are requested while a gradient is needed
  (its weight gradients sum with atomics) or int32 offsets cannot reach the
  tensors;
* ``torch``, PyTorch convs (``torch_context``): everywhere, and always when
  scripting, tracing or exporting to ONNX.

``CPWC_KERNEL`` (``kernel_mode``) says which may run; under ``auto`` the
fused kernel runs wherever it applies, and on CUDA the implementation the
layer's problem gets from ``kernel_choices`` (a lookup: a choices file made
by ``tools/analysis_tools/tune_cpwc.py``, else Triton). Each call is counted
by implementation in :data:`calls` (tests and ``gpu_check.py`` assert which
ran).
"""

from typing import Optional, Sequence

import torch
from torch import Tensor

from . import fused_context, kernel_choices
from .compat import autocast_dtype, custom_op_missing, is_exporting
from .kernel_mode import kernel_mode
from .torch_context import context_unit_torch

#: device types whose tensors the Triton op takes (the tests add 'cpu' to
#: run it under Triton's interpreter)
TRITON_DEVICE_TYPES = ('cuda',)
#: activation dtypes the Triton kernels take
TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def triton_unavailable() -> str:
    """Why the Triton op cannot run here ('' if it can); said once on
    stderr the first time a tensor for it arrives (tried once, the answer
    kept in a plain dict that torch.compile traces without a warning)."""
    if 'reason' not in _triton_state:
        reason = custom_op_missing()
        if not reason:
            try:
                from . import triton_context  # noqa: F401
            except ImportError as err:
                reason = f'Triton does not import ({err})'
        _triton_state['reason'] = reason
    return _triton_state['reason']


_triton_state: dict = {}


def _triton(x, base, w1, w2, segments, stride) -> Tensor:
    """The Triton op; under autocast ``x`` is cast to the autocast dtype,
    as the convs would cast it (the kernels sum in float32)."""
    from .triton_context import triton_context_unit

    dtype = autocast_dtype(x.device.type)
    if dtype is not None:
        x = x.to(dtype)
    return triton_context_unit(x, w1, w2, base, list(segments), int(stride))


def _cpu_fused(x, base, w1, w2, segments, stride) -> Tensor:
    """The fused C++ kernel, summing into ``base`` (or zeros)."""
    if base is None:
        n, _, h, w = x.shape
        size = ((h - 1) // stride + 1, (w - 1) // stride + 1)
        out = torch.zeros(
            (n, sum(segments[2::4]), *size), dtype=x.dtype
        ).contiguous(memory_format=torch.channels_last)
    else:
        out = base.contiguous(memory_format=torch.channels_last)
    return fused_context.fused_context_unit_(out, x, w1, w2, segments, stride)


IMPLEMENTATIONS = {
    'cpu-fused': _cpu_fused,
    'triton': _triton,
    'torch': context_unit_torch,
}


def grads_needed(x: Tensor, base, w1: Tensor, w2) -> str:
    """Which gradients autograd will ask for: ``''``, ``'x'``, ``'w'``
    (weights or the 1x1 path) or ``'xw'``."""
    if not torch.is_grad_enabled():
        return ''
    weights = any(t is not None and t.requires_grad for t in (base, w1, w2))
    return ('x' if x.requires_grad else '') + ('w' if weights else '')


def fused_applies(x: Tensor) -> bool:
    """Whether the fused CPU kernel would compute a call whose input is
    like ``x`` once ``x`` is channels_last (the backbones' layout policy
    asks this): CPU float32 4-d, no gradient, kernel built and allowed."""
    return (
        kernel_mode() in ('auto', 'cpu-fused')
        and not torch.is_grad_enabled()
        and fused_context.qualifies(x)
        and not is_exporting()
    )


def _triton_applies(x, base, grads: str, z: int) -> bool:
    if (autocast_dtype(x.device.type) or x.dtype) not in TRITON_DTYPES:
        return False
    if grads and torch.are_deterministic_algorithms_enabled():
        return False
    reason = triton_unavailable()
    if reason:
        kernel_choices.say_once(
            f'the Triton CPWC op is unavailable: {reason}; CPWC layers run '
            'on PyTorch convs'
        )
        return False
    from .triton_context import fits_int32

    return fits_int32(x, base, z)


def choose_implementation(
    x: Tensor,
    base: Optional[Tensor],
    w1: Tensor,
    w2: Optional[Tensor],
    segments: Sequence[int],
    stride: int,
) -> str:
    """The name of the implementation that computes this call (a key of
    :data:`IMPLEMENTATIONS`); see the module docstring."""
    mode = kernel_mode()
    if mode == 'torch' or is_exporting():
        return 'torch'
    grads = grads_needed(x, base, w1, w2)
    if x.device.type == 'cpu' and mode in ('auto', 'cpu-fused'):
        if (
            not grads
            and fused_context.qualifies(x)
            and x.is_contiguous(memory_format=torch.channels_last)
        ):
            return 'cpu-fused'
    if x.device.type not in TRITON_DEVICE_TYPES or mode == 'cpu-fused':
        return 'torch'
    z = sum(segments[2::4])
    if not _triton_applies(x, base, grads, z):
        return 'torch'
    if mode == 'triton':
        return 'triton'
    problem = kernel_choices.Problem(
        x.shape[1],
        z,
        int(stride),
        w2 is not None,
        base is not None,
        str(autocast_dtype(x.device.type) or x.dtype).replace('torch.', ''),
        x.is_contiguous(memory_format=torch.channels_last),
        grads,
        kernel_choices.size_bucket(
            x.shape[0]
            * ((x.shape[2] - 1) // stride + 1)
            * ((x.shape[3] - 1) // stride + 1)
        ),
    )
    if kernel_choices.recorded is not None:  # the tuner is listening
        kernel_choices.recorded.append(
            kernel_choices.Call(
                problem, tuple(x.shape), tuple(segments), x.device
            )
        )
    return kernel_choices.implementation(problem, x.device)


#: implementation name -> calls it computed in this process (under
#: torch.compile: calls traced)
calls = dict.fromkeys(IMPLEMENTATIONS, 0)


def context_unit(
    x: Tensor,
    base: Optional[Tensor],
    w1: Tensor,
    w2: Optional[Tensor],
    segments: Sequence[int],
    stride: int,
) -> Tensor:
    """``base + s1(x) + s2(s1(x))``.

    Args:
        x (Tensor): ``(N, C, H, W)``, any layout.
        base (Tensor | None): ``(N, Z, H', W')``, the 1x1 path's output;
            None: no 1x1 path. It may be summed into in place (pass a
            tensor nothing else reads).
        w1 (Tensor): ``(M, 9)`` stage-1 kernels, one per member: the input
            channels if Z <= C (``M = C``), the output channels if Z > C.
        w2 (Tensor | None): ``(Z, 9)`` stage-2 kernels; None: no stage 2.
        segments (Sequence[int]): the layer's segment table
            (``cpwc_groups.segment_rows``).
        stride (int): stride of stage 1.

    Returns:
        Tensor: ``(N, Z, H', W')``, ``H' = ceil(H / stride)``.
    """
    name = choose_implementation(x, base, w1, w2, segments, stride)
    calls[name] += 1
    return IMPLEMENTATIONS[name](x, base, w1, w2, segments, stride)
