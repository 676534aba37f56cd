"""On CUDA, run CPWC's context unit by the Triton op or by PyTorch convs,
whichever is faster for the layer's shape, measured once (as
``torch.backends.cudnn.benchmark`` picks conv algorithms).

``CPWC_CUDA_KERNEL`` in the environment: ``auto`` (default: measure),
``triton`` (always the Triton op) or ``torch`` (always PyTorch). CPU tensors,
a missing Triton and the cases below run PyTorch, silently:

* deterministic algorithms requested and a gradient needed (the op's
  weight gradients use float32 atomics);
* scripting, tracing or ONNX export (they must see the convs);
* tensors of more than 2**31 - 1 elements (the kernels index in int32);
* float64.

Under ``torch.compile`` or CUDA graph capture a shape not yet measured takes
the Triton op (timing cannot run inside a trace or a capture). The choice is
per process: DDP ranks measure for themselves, and both paths compute the
same function.
"""

import contextlib
import os
import threading
from typing import Dict, List, Optional

import torch
from torch import Tensor

ENV_VAR = 'CPWC_CUDA_KERNEL'
MODES = ('auto', 'triton', 'torch')
#: device types the dispatcher acts on (the tests add 'cpu' to run it
#: through Triton's interpreter)
DEVICE_TYPES = ('cuda',)

#: (shape, dtype, stride, ...) -> 'triton' | 'torch', measured once
_choices: Dict[tuple, str] = {}
_local = threading.local()  # ``bypass``: the layer is being timed on torch
_triton_ok: Optional[bool] = None  # see triton_op_available


def kernel_mode() -> str:
    """``CPWC_CUDA_KERNEL``, checked: one of ``MODES``."""
    mode = os.environ.get(ENV_VAR, 'auto').strip().lower() or 'auto'
    if mode not in MODES:
        raise ValueError(
            f'{ENV_VAR} must be one of {", ".join(MODES)}, got '
            f'{os.environ[ENV_VAR]!r}'
        )
    return mode


def triton_op_available() -> bool:
    """Whether Triton is installed and the op module imports (tried once,
    on the first CUDA call)."""
    global _triton_ok
    if _triton_ok is None:
        try:
            from . import triton_context  # noqa: F401

            _triton_ok = True
        except Exception:  # ImportError, or a Triton without this API
            _triton_ok = False
    return _triton_ok


def chosen_kernels() -> Dict[tuple, str]:
    """A copy of the measured choices, for logs and benchmarks."""
    return dict(_choices)


def segment_list(layer) -> List[int]:
    """The op's ``segments``: ``fused_context.segment_table``'s rows
    ``(input channel start, z start, z count, r or e)``, flattened; plain
    Python (no tensor), so torch.compile keeps them constants."""
    rows, z_start = [], 0
    for seg in layer.segments:
        if layer.out_channels <= layer.in_channels:
            width = seg.in_channels // seg.groups
        else:
            width = seg.out_channels // seg.in_channels
        rows += [seg.in_start, z_start, seg.out_channels, width]
        z_start += seg.out_channels
    return rows


def _stride(layer) -> int:
    stride = layer.stride
    return int(stride[0] if isinstance(stride, (tuple, list)) else stride)


def triton_context_unit(layer, x: Tensor) -> Tensor:
    """``layer(x)`` through ``cpwc::context_unit``: the 1x1 path by PyTorch,
    then ``out = pwc(x) + s1(x) + s2(s1(x))`` by the Triton op.

    Under autocast, ``x`` is cast to the autocast dtype (as the convs would
    cast it); the weights stay as they are (the kernels sum in float32).

    Args:
        layer (CPWConv2d): the layer.
        x (Tensor): ``(N, C, H, W)``, CUDA (or CPU under Triton's
            interpreter).

    Returns:
        Tensor: ``(N, Z, H', W')``.
    """
    from .triton_context import context_unit

    base = layer.pwc(x) if layer.pwc is not None else None
    if torch.is_autocast_enabled(x.device.type):
        x = x.to(torch.get_autocast_dtype(x.device.type))
    kernels = [conv.weight.reshape(-1, 9) for conv in layer.stage1]
    w1 = kernels[0] if len(kernels) == 1 else torch.cat(kernels)
    w2 = None if layer.stage2 is None else layer.stage2.weight.reshape(-1, 9)
    return context_unit(x, w1, w2, base, segment_list(layer), _stride(layer))


def _needs_grad(layer, x: Tensor) -> bool:
    return torch.is_grad_enabled() and (
        x.requires_grad or any(p.requires_grad for p in layer.parameters())
    )


def _key(layer, x: Tensor, training: bool) -> tuple:
    dtype = (
        torch.get_autocast_dtype('cuda')
        if torch.is_autocast_enabled('cuda')
        else x.dtype
    )
    return (
        layer.in_channels,
        layer.out_channels,
        _stride(layer),
        layer.stage2 is not None,
        layer.pwc is not None,
        tuple(x.shape),
        str(dtype),
        x.is_contiguous(memory_format=torch.channels_last),
        training,
    )


@contextlib.contextmanager
def _torch_path():
    """Make ``cuda_context_unit`` answer None (time the PyTorch path)."""
    _local.bypass = True
    try:
        yield
    finally:
        _local.bypass = False


def _milliseconds(fn, repeats: int = 3) -> float:
    """CUDA time of ``fn`` after one warm-up call (where Triton compiles
    and autotunes)."""
    fn()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / repeats


def _measure(layer, x: Tensor, training: bool) -> str:
    """Time both paths on ``x`` (forward, plus backward when training) and
    return the faster; parameter ``.grad`` is not touched, no RNG drawn."""
    x = x.detach().requires_grad_(training and x.requires_grad)
    inputs: List[Tensor] = (
        [t for t in [x, *layer.parameters()] if t.requires_grad]
        if training
        else []
    )

    def run(forward):
        def call():
            with torch.set_grad_enabled(training):
                out = forward()
                if training:
                    torch.autograd.grad(out, inputs, torch.ones_like(out))

        return call

    def torch_forward():
        with _torch_path():
            return layer(x)

    triton_ms = _milliseconds(run(lambda: triton_context_unit(layer, x)))
    torch_ms = _milliseconds(run(torch_forward))
    return 'triton' if triton_ms < torch_ms else 'torch'


def _qualifies(layer, x: Tensor) -> bool:
    """The op takes this call (see the module docstring)."""
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        return False
    if (
        torch.jit.is_scripting()
        or torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
    ):
        return False
    limit = 2**31 - 1
    if (
        x.numel() > limit
        or x.shape[0] * layer.out_channels * x.shape[2] * x.shape[3] > limit
    ):
        return False
    return not (
        torch.are_deterministic_algorithms_enabled() and _needs_grad(layer, x)
    )


def cuda_context_unit(layer, x: Tensor) -> Optional[Tensor]:
    """``layer(x)`` by the Triton op when it is chosen for this call, else
    None (the caller runs its PyTorch path).

    Args:
        layer (CPWConv2d): the calling layer.
        x (Tensor): its ``(N, C, H, W)`` input.

    Returns:
        Tensor | None: ``(N, Z, H', W')``, or None.
    """
    if x.device.type not in DEVICE_TYPES:
        return None
    compiling = torch.compiler.is_compiling()
    if not compiling and getattr(_local, 'bypass', False):
        return None
    mode = kernel_mode()
    if mode == 'torch' or not _qualifies(layer, x):
        return None
    if not triton_op_available():
        if mode == 'triton':
            raise RuntimeError(
                f'{ENV_VAR}=triton but Triton is not '
                f'installed (or its import failed)'
            )
        return None
    if mode == 'auto':
        training = _needs_grad(layer, x)
        key = _key(layer, x, training)
        choice = _choices.get(key)
        if choice is None:
            if compiling or (
                x.is_cuda and torch.cuda.is_current_stream_capturing()
            ):
                choice = 'triton'
            else:
                choice = _choices[key] = _measure(layer, x, training)
        if choice == 'torch':
            return None
    return triton_context_unit(layer, x)
