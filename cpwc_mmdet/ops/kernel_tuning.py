"""Measuring what ``kernel_choices`` looks up: for each problem a model
meets, the faster of the Triton op and PyTorch convs, and each Triton
kernel's fastest launch configuration.

This runs in a tool, once per GPU type and model
(``tools/analysis_tools/tune_cpwc.py``, ``gpu_check.py``), never in a
training step: it calls the ops directly on random tensors of each
problem's shape (the backward op too, outside autograd), times them with
CUDA events (wall time on the CPU, where only Triton's interpreter runs the
kernels) and returns the tables a choices file holds. Writing the file is
the tool's (atomically, merged with what is there).
"""

import time
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
from torch import Tensor

from .kernel_choices import Call, force_launch
from .torch_context import context_unit_torch

#: the kernels the forward and the backward op launch
FORWARD_KERNEL = 'context_forward_kernel'
BACKWARD_KERNELS = ('stage2_backward_kernel', 'stage1_backward_kernel')


def milliseconds(fn: Callable[[], object], device: torch.device, repeats=3):
    """Time per call of ``fn`` after one warm-up call (where Triton
    compiles): CUDA events on the device, else wall time of one call (the
    interpreter's times mean nothing; the tests only run the path)."""
    fn()
    if device.type != 'cuda':
        repeats = 1
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - start) * 1e3 / repeats
    begin = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    begin.record()
    for _ in range(repeats):
        fn()
    end.record()
    end.synchronize()
    return begin.elapsed_time(end) / repeats


def inputs(call: Call) -> List[Optional[Tensor]]:
    """Random ``x, base, w1, w2`` of the call's shapes and dtype, weights
    in float32 (as AMP's master weights), from a generator of their own."""
    p = call.problem
    n, c, h, w = call.shape
    gen = torch.Generator(device=call.device).manual_seed(0)

    def rand(*shape, dtype=getattr(torch, p.dtype)):
        return torch.randn(shape, generator=gen, device=call.device).to(dtype)

    layout = (
        torch.channels_last if p.channels_last else torch.contiguous_format
    )
    x = rand(n, c, h, w).contiguous(memory_format=layout)
    size = ((h - 1) // p.stride + 1, (w - 1) // p.stride + 1)
    base = rand(n, p.out_channels, *size) if p.pwc else None
    if base is not None:
        base = base.contiguous(memory_format=layout)
    w1 = rand(max(c, p.out_channels), 9, dtype=torch.float32)
    w2 = rand(p.out_channels, 9, dtype=torch.float32) if p.stage2 else None
    return [x, base, w1, w2]


def _torch_ms(call: Call, x, base, w1, w2) -> float:
    """PyTorch's forward, and backward when the problem needs gradients."""
    p = call.problem
    leaves = []
    if 'x' in p.grads:
        leaves.append(x.detach().requires_grad_())
    weights = [t for t in (base, w1, w2) if t is not None]
    if 'w' in p.grads:
        weights = [t.detach().requires_grad_() for t in weights]
        leaves += weights
    x_in = leaves[0] if 'x' in p.grads else x
    dtype = getattr(torch, p.dtype)

    def run():
        with torch.set_grad_enabled(bool(leaves)):
            b, *ws = weights if p.pwc else [None] + weights
            ws = [w.to(dtype) for w in ws] + [None] * (2 - len(ws))
            fresh = None if b is None else b.clone()  # it sums into base
            out = context_unit_torch(
                x_in, fresh, ws[0], ws[1], call.segments, p.stride
            )
            if leaves:
                torch.autograd.grad(out, leaves, torch.ones_like(out))

    return milliseconds(run, call.device)


def _best(kernel: str, configs, run: Callable[[], object], device) -> Tuple:
    """The fastest of ``configs`` for ``kernel`` and its time."""
    times = {}
    for config in configs:
        with force_launch(kernel, config):
            times[config] = milliseconds(run, device)
    best = min(times, key=times.get)
    return best, times[best]


def measure(call: Call) -> Tuple[str, Dict[str, Tuple[str, tuple]]]:
    """Time the problem of ``call``: returns the faster implementation's
    name and, per kernel, ``(launch key, fastest configuration)``."""
    from . import triton_context as op

    configs_of = op.kernels.configs_of

    p = call.problem
    x, base, w1, w2 = inputs(call)
    segments = list(call.segments)
    torch_ms = _torch_ms(call, x, base, w1, w2)
    geo = op.geometry(x, w1, w2, base, segments, p.stride)
    w1c, w2c = w1, w2  # float32, as AMP's master weights reach the op
    needs = ['x' in p.grads, 'w' in p.grads, 'w' in p.grads]
    keys = op.launch_keys(x, geo, p.stage2, p.pwc, needs)
    chosen = {}
    config, triton_ms = _best(
        FORWARD_KERNEL,
        configs_of(FORWARD_KERNEL),
        lambda: op.triton_context_unit(x, w1c, w2c, base, segments, p.stride),
        call.device,
    )
    chosen[FORWARD_KERNEL] = (keys[FORWARD_KERNEL], config)
    if p.grads:
        grad = torch.ones(
            (geo.N, geo.Z, geo.Ho, geo.Wo), dtype=x.dtype, device=x.device
        )
        back_keys = op.launch_keys(x, geo, p.stage2, True, needs)
        for kernel in BACKWARD_KERNELS:  # one at a time, the other default
            config, _ = _best(
                kernel,
                configs_of(kernel),
                lambda: op.context_unit_backward(
                    grad, x, w1c, w2c, segments, p.stride, needs
                ),
                call.device,
            )
            chosen[kernel] = (back_keys[kernel], config)
        with force_launch(BACKWARD_KERNELS[0], chosen[BACKWARD_KERNELS[0]][1]):
            with force_launch(
                BACKWARD_KERNELS[1], chosen[BACKWARD_KERNELS[1]][1]
            ):
                triton_ms += milliseconds(
                    lambda: op.context_unit_backward(
                        grad, x, w1c, w2c, segments, p.stride, needs
                    ),
                    call.device,
                )
    name = 'triton' if triton_ms <= torch_ms else 'torch'
    return name, chosen


def tune(calls: Iterable[Call], progress=None) -> dict:
    """Measure every distinct problem among ``calls`` (the first call of
    each stands for it); return the choices file's tables.

    Args:
        calls: recorded by ``kernel_choices.recording()``.
        progress: called with ``(done, total, problem key, choice)``.

    Returns:
        dict: ``implementation`` (problem key -> name) and ``launch``
        (kernel -> launch key -> ``[BLOCK_H, BLOCK_W, BLOCK_Z, warps]``).
    """
    distinct = {}
    for call in calls:
        distinct.setdefault(call.problem.key(), call)
    tables = dict(implementation={}, launch={})
    for i, (key, call) in enumerate(distinct.items()):
        with torch.no_grad():  # no graph of ours: the op is called directly
            name, chosen = measure(call)
        tables['implementation'][key] = name
        for kernel, (launch_key, config) in chosen.items():
            tables['launch'].setdefault(kernel, {})[launch_key] = list(config)
        if progress is not None:
            progress(i + 1, len(distinct), key, name)
    return tables
