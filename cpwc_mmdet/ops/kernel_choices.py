"""On CUDA, which implementation computes a CPWC call and how the Triton
kernels launch: a lookup, never a measurement.

At run time nothing is timed, tuned or synchronised: the choice for a call
is read from a *choices file* when one exists for this GPU model, torch,
Triton and kernel version (:func:`choices_path`), else it follows a fixed
rule (:data:`RULE`): the Triton op wherever it applies, each kernel
launched with its default configuration (the first of its list in
``triton_context_kernels``). The file is written outside training, by
``tools/analysis_tools/tune_cpwc.py CONFIG`` (once per GPU type and model)
or by ``gpu_check.py``, which time both implementations and every launch
configuration of each kernel (``kernel_tuning``) and merge their results
into it. So a choice never depends on when a layer first runs (inside a
backward pass, a checkpoint's recompute, a CUDA-graph capture or a
torch.compile trace), and ranks that read the same file agree.

A *problem* is what changes the answer: the layer's channels, stride, stage
2 and 1x1 path, the activation dtype (the autocast dtype under AMP, not the
fp32 master weights'), the layout, which gradients are needed, and the
output size in powers of 4 (:func:`size_bucket`), so detection batches,
whose sizes change at almost every iteration, bring a handful of problems
per layer, not one per shape.

The file is read once per device, on the first call outside a torch.compile
trace (a trace sees what was read before it, or the rule); a file that is
missing, unreadable or made for other versions is ignored. Without an
NVIDIA driver (fake CUDA tensors) the rule applies, said in one line.
"""

import contextlib
import hashlib
import json
import os
import re
import sys
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import torch

from .compat import is_compiling

#: the choices file's format (another version is not read)
FORMAT = 2
#: the implementation a problem gets when the file does not name one
RULE = 'triton'
#: a launch configuration: ``(BLOCK_H, BLOCK_W, BLOCK_Z, num_warps)``
LaunchConfig = Tuple[int, int, int, int]


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
    dtype: str  # the activations' (autocast's) dtype, e.g. 'float16'
    channels_last: bool
    grads: str  # '', 'x', 'w' or 'xw': the gradients needed
    bucket: int

    def key(self) -> str:
        """The problem as a string (the file's keys)."""
        return ','.join(str(v) for v in self)


def kernels_version() -> str:
    """A digest of the Triton kernels' source: a choices file made for
    other kernels is not read."""
    path = os.path.join(os.path.dirname(__file__), 'triton_context_kernels.py')
    with open(path, 'rb') as f:
        return hashlib.sha1(f.read()).hexdigest()[:12]


def versions(gpu_name: str) -> Dict[str, str]:
    """What a choices file is valid for."""
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = 'none'
    return dict(
        gpu=gpu_name,
        torch=torch.__version__,
        triton=triton_version,
        kernels=kernels_version(),
    )


def choices_dir() -> str:
    """``$CPWC_KERNEL_CHOICES_DIR``, else ``$XDG_CACHE_HOME/cpwc_mmdet``
    (``~/.cache/cpwc_mmdet``)."""
    folder = os.environ.get('CPWC_KERNEL_CHOICES_DIR')
    if folder:
        return folder
    root = os.environ.get('XDG_CACHE_HOME') or os.path.join(
        os.path.expanduser('~'), '.cache'
    )
    return os.path.join(root, 'cpwc_mmdet')


def gpu_name(device: torch.device) -> str:
    """The GPU model of ``device`` (``'cpu-interpreter'`` for CPU tensors,
    Triton's interpreter). Raises without an NVIDIA driver."""
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'{device.type}-interpreter'


def choices_path(device: torch.device) -> str:
    """The choices file for ``device``'s GPU model and these versions."""
    label = '_'.join(f'{k}-{v}' for k, v in versions(gpu_name(device)).items())
    label = re.sub(r'[^A-Za-z0-9.+-]+', '-', label)
    return os.path.join(choices_dir(), f'kernel-choices_{label}.json')


def read_choices(path: str, expected: Dict[str, str]) -> dict:
    """The file's ``implementation`` and ``launch`` tables; empty ones when
    it is missing, unreadable, of another format or made for other
    versions than ``expected``."""
    empty = dict(implementation={}, launch={})
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return empty
    if not isinstance(data, dict) or data.get('format') != FORMAT:
        return empty
    if any(data.get(k) != v for k, v in expected.items()):
        return empty
    tables = {k: data.get(k) for k in empty}
    if not all(isinstance(t, dict) for t in tables.values()):
        return empty
    return tables


#: (device type, index) -> the tables read for it
_tables: Dict[Tuple[str, Optional[int]], dict] = {}
_said: set = set()


def say_once(message: str) -> None:
    """``message`` on stderr, once per process."""
    if message not in _said:
        _said.add(message)
        print(f'cpwc_mmdet: {message}', file=sys.stderr)


def tables(device: torch.device) -> dict:
    """The choices for ``device``: read from its file on the first call
    outside a torch.compile trace, empty (the rule) before that."""
    slot = (device.type, device.index)
    found = _tables.get(slot)
    if found is not None:
        return found
    empty = dict(implementation={}, launch={})
    if is_compiling():
        return empty
    try:
        path = choices_path(device)
    except (RuntimeError, AssertionError) as err:  # no driver: fake tensors
        say_once(
            f'no CUDA device to read kernel choices for ({err}); CPWC '
            f'layers use the rule ({RULE} wherever it applies)'
        )
        _tables[slot] = empty
        return empty
    expected = versions(gpu_name(device))
    _tables[slot] = read_choices(path, expected)
    return _tables[slot]


def implementation(problem: Problem, device: torch.device) -> str:
    """``'triton'`` or ``'torch'`` for ``problem``: the file's, else the
    rule."""
    return tables(device)['implementation'].get(problem.key(), RULE)


def launch_config(
    kernel: str, key: str, device: torch.device
) -> Optional[LaunchConfig]:
    """The file's launch configuration of ``kernel`` for ``key`` (made by
    ``triton_context.launch_keys``), or None (the kernel's default)."""
    if kernel in _forced:
        return _forced[kernel]
    found = tables(device)['launch'].get(kernel, {}).get(key)
    return tuple(found) if isinstance(found, list) else None


_forced: Dict[str, LaunchConfig] = {}


@contextlib.contextmanager
def force_launch(kernel: str, config: LaunchConfig) -> Iterator[None]:
    """Within the block, ``kernel`` launches with ``config`` (the tuner
    times each configuration this way)."""
    _forced[kernel] = tuple(config)
    try:
        yield
    finally:
        del _forced[kernel]


class Call(NamedTuple):
    """A call met while :func:`recording` (what the tuner rebuilds)."""

    problem: Problem
    shape: tuple  # x's (N, C, H, W)
    segments: tuple
    device: torch.device


#: the calls met while recording (None: not recording, the usual state)
recorded: Optional[List[Call]] = None


@contextlib.contextmanager
def recording() -> Iterator[List[Call]]:
    """Within the block, every CPWC call under ``CPWC_KERNEL=auto`` on a
    Triton device is appended to the list this yields."""
    global recorded
    recorded = []
    try:
        yield recorded
    finally:
        recorded = None


def reset() -> None:
    """Forget what was read (tests; after a tool wrote a file)."""
    _tables.clear()
