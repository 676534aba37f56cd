"""On CUDA, the faster of the Triton op and PyTorch convs, per layer
configuration: measured once, kept across runs.

``CPWC_KERNEL=auto`` times both implementations of the context unit the
first time a :class:`Problem` appears (as ``torch.backends.cudnn.benchmark``
picks conv algorithms) and uses the faster from then on. A problem is what
changes the answer: the layer's channels, stride, stage 2 and 1x1 path, the
dtype, the layout, which gradients are needed, and the output size in
powers of 4 (:func:`size_bucket`), so detection batches, whose sizes change
at almost every iteration, bring a handful of problems per layer, not one
per shape.

Measuring runs the two implementations on random tensors of the problem's
shape, in the caller's forward, never in a backward pass (a reentrant
checkpoint recomputes its forward there), under torch.compile or during CUDA
graph capture: there a problem not yet measured runs PyTorch and is measured
at the next call that can. The choices are kept in a JSON file per GPU
model, torch and Triton version (:func:`cache_path`), written by atomic
renames, so resumed runs and other ranks reuse them; every rank measures
what it has not read from the file. Both implementations compute the same
function, so ranks that chose differently still agree.
"""

import contextlib
import json
import os
import re
import tempfile
import threading
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import torch
from torch import Tensor

from .compat import in_backward, is_compiling

#: the file format of the choices (a newer format is not read)
CACHE_VERSION = 1


def size_bucket(pixels: int) -> int:
    """Output pixels ``N * H' * W'`` in powers of 4: ``floor(log4(p))``.

    Example:
        >>> [size_bucket(p) for p in (1, 3, 4, 15, 16, 121600)]
        [0, 0, 1, 1, 2, 8]
    """
    return (max(pixels, 1).bit_length() - 1) // 2


class Problem(NamedTuple):
    """What decides which implementation is faster."""

    channels: int
    out_channels: int
    stride: int
    stage2: bool
    pwc: bool
    dtype: str
    channels_last: bool
    grads: str  # '', 'x', 'w' or 'xw': the gradients needed
    bucket: int

    def key(self) -> str:
        """The problem as a string (the cache file's keys)."""
        return ','.join(str(v) for v in self)


class Pending(NamedTuple):
    """A problem met where it could not be measured, and how to rebuild
    its inputs."""

    problem: Problem
    shape: tuple
    segments: tuple
    device: torch.device


#: implementation name -> ``fn(x, base, w1, w2, segments, stride)``; filled
#: by ``context_unit`` (this module does not import the implementations)
Implementations = Dict[str, Callable[..., Tensor]]

_lock = threading.Lock()
_choices: Dict[str, str] = {}  # Problem.key() -> 'triton' | 'torch'
_loaded_from: Optional[str] = None
_pending: Dict[str, Pending] = {}
#: how many problems this process measured (tests, logs)
stats = dict(measurements=0)


def cache_dir() -> str:
    """``$XDG_CACHE_HOME/cpwc_mmdet`` (``~/.cache/cpwc_mmdet``)."""
    root = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache'
    )
    return os.path.join(root, 'cpwc_mmdet')


def cache_path(device: torch.device) -> str:
    """The choices file for ``device``'s GPU model and this torch and
    Triton (the interpreter, for CPU tensors)."""
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:  # pragma: no cover
        triton_version = 'none'
    if device.type == 'cuda':
        name = torch.cuda.get_device_name(device)
    else:
        name = f'{device.type}-interpreter'
    label = f'{name}_torch-{torch.__version__}_triton-{triton_version}'
    label = re.sub(r'[^A-Za-z0-9.+-]+', '-', label)
    return os.path.join(cache_dir(), f'kernel-choices_{label}.json')


def _read(path: str) -> Dict[str, str]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get('version') != CACHE_VERSION:
        return {}
    choices = data.get('choices')
    return dict(choices) if isinstance(choices, dict) else {}


def _load(device: torch.device) -> None:
    global _loaded_from
    path = cache_path(device)
    if _loaded_from != path:
        _choices.update(_read(path))
        _loaded_from = path


def _save(device: torch.device) -> None:
    """Merge this process's choices into the file: a temporary file in its
    folder renamed over it (ranks writing at once lose nothing but a
    choice, measured again next time)."""
    path = cache_path(device)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        merged = {**_read(path), **_choices}
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
        with os.fdopen(fd, 'w') as f:
            json.dump(dict(version=CACHE_VERSION, choices=merged), f)
        os.replace(tmp, path)
    except OSError:  # a read-only home: the choices stay in this process
        pass


def chosen() -> Dict[str, str]:
    """A copy of the choices known to this process (problem key -> name)."""
    return dict(_choices)


def reset() -> None:
    """Forget every choice and pending problem (tests, benchmarks)."""
    global _loaded_from
    with _lock:
        _choices.clear()
        _pending.clear()
        _loaded_from = None
        stats['measurements'] = 0


def _milliseconds(fn: Callable[[], None], device: torch.device) -> float:
    """Time per call of ``fn`` after one warm-up call (where Triton
    compiles and autotunes): CUDA events on the device, else wall time."""
    repeats = 3
    fn()
    if device.type != 'cuda':
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


def _inputs(item: Pending) -> List[Optional[Tensor]]:
    """Random ``x, base, w1, w2`` of the problem's shapes (no RNG state of
    the caller's is drawn from: a generator of its own)."""
    p = item.problem
    n, c, h, w = item.shape
    dtype = getattr(torch, p.dtype)
    gen = torch.Generator(device=item.device).manual_seed(0)

    def rand(*shape):
        return torch.randn(
            shape, generator=gen, device=item.device, dtype=dtype
        )

    x = rand(n, c, h, w)
    if p.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    size = ((h - 1) // p.stride + 1, (w - 1) // p.stride + 1)
    base = rand(n, p.out_channels, *size) if p.pwc else None
    if base is not None and p.channels_last:
        base = base.contiguous(memory_format=torch.channels_last)
    w1 = rand(max(c, p.out_channels), 9)
    w2 = rand(p.out_channels, 9) if p.stage2 else None
    x.requires_grad_('x' in p.grads)
    for t in (base, w1, w2):
        if t is not None:
            t.requires_grad_('w' in p.grads)
    return [x, base, w1, w2]


def _measure(item: Pending, implementations: Implementations) -> str:
    """Time every implementation on the problem (forward, and backward when
    it needs gradients); return the fastest's name."""
    x, base, w1, w2 = _inputs(item)
    leaves = [
        t for t in (x, base, w1, w2) if t is not None and t.requires_grad
    ]
    times = {}
    for name, fn in implementations.items():

        def call(fn=fn):
            with torch.set_grad_enabled(bool(leaves)):
                # a fresh base per call: the PyTorch path sums into it
                fresh = None if base is None else base.clone()
                out = fn(x, fresh, w1, w2, item.segments, item.problem.stride)
                if leaves:
                    torch.autograd.grad(out, leaves, torch.ones_like(out))

        times[name] = _milliseconds(call, item.device)
    stats['measurements'] += 1
    return min(times, key=times.get)


def can_measure(x: Tensor) -> bool:
    """Whether a measurement may run now: not in a backward pass (nor a
    checkpoint's recompute), not under torch.compile, not while a CUDA
    graph is being captured."""
    if in_backward() or is_compiling():
        return False
    return not (x.is_cuda and torch.cuda.is_current_stream_capturing())


def choose(
    problem: Problem,
    x: Tensor,
    segments: Sequence[int],
    implementations: Implementations,
) -> str:
    """The implementation for ``problem`` (met with input ``x``): the
    measured one, or PyTorch's (``'torch'``) until it can be measured.

    Args:
        problem (Problem): the call's problem.
        x (Tensor): the call's input (its shape and device only).
        segments (Sequence[int]): the layer's segment table.
        implementations (dict): name -> function, ``'torch'`` among them.

    Returns:
        str: a key of ``implementations``.
    """
    key = problem.key()
    with _lock:
        _load(x.device)
        choice = _choices.get(key)
        if choice is not None and not _pending:
            return choice
        measurable = can_measure(x)
        if choice is None:
            item = Pending(problem, tuple(x.shape), tuple(segments), x.device)
            if not measurable:
                _pending.setdefault(key, item)
                return 'torch'
            _pending[key] = item
        if measurable:  # this problem and those met where none could run
            for pending in list(_pending.values()):
                with _device_guard(pending.device):
                    _choices[pending.problem.key()] = _measure(
                        pending, implementations
                    )
            _pending.clear()
            _save(x.device)
        return _choices[key]


def _device_guard(device: torch.device):
    """Make ``device`` current for the measurement (CUDA), else nothing."""
    if device.type == 'cuda':
        return torch.cuda.device(device)
    return contextlib.nullcontext()
