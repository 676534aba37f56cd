"""``CPWC_KERNEL``: which implementation computes CPWC's context unit.

One environment variable, read once when ``cpwc_mmdet.ops`` is imported:

* ``auto`` (default): the fused C++ kernel for CPU inference where it
  applies; on CUDA the faster of the Triton op and PyTorch convs, measured
  once per layer configuration; PyTorch convs everywhere else.
* ``cpu-fused``: the fused C++ kernel wherever it applies, PyTorch elsewhere.
* ``triton``: the Triton op wherever it applies, PyTorch elsewhere.
* ``torch``: PyTorch convs everywhere (the reference).

Where each applies is said in ``context_unit.py``. ``CPWC_KERNEL_ISA``
(``avx512``, ``avx2``, ``scalar``) picks the build of the fused kernel
(default: the best one the CPU runs). Tests and benchmarks switch the mode
for a block with :func:`use_kernel`.
"""

import contextlib
import os
from typing import Iterator

ENV_VAR = 'CPWC_KERNEL'
MODES = ('auto', 'cpu-fused', 'triton', 'torch')


def parse_mode(value: str) -> str:
    """A ``CPWC_KERNEL`` value, checked (case and spaces ignored; empty is
    ``auto``).

    Raises:
        ValueError: one line naming the variable and its values.
    """
    mode = value.strip().lower() or 'auto'
    if mode not in MODES:
        raise ValueError(
            f'{ENV_VAR} must be one of {", ".join(MODES)}, got {value!r}'
        )
    return mode


_mode = parse_mode(os.environ.get(ENV_VAR, 'auto'))


def kernel_mode() -> str:
    """The mode in force (``CPWC_KERNEL`` as read at import, or the one a
    :func:`use_kernel` block set)."""
    return _mode


@contextlib.contextmanager
def use_kernel(mode: str) -> Iterator[None]:
    """Within the block, compute context units with ``mode`` (one of
    :data:`MODES`), in this process."""
    global _mode
    saved, _mode = _mode, parse_mode(mode)
    try:
        yield
    finally:
        _mode = saved
