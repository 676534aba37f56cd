"""The CPU kernels' build in use: CPWC's fused context unit
(``fused_context``) and CoC's weight derivation (``coc_weight``).

``setup.py`` compiles ``csrc/`` once per instruction set, as the extension
modules ``_cpu_kernels_<isa>``; the best build the CPU runs is imported, or
the one ``CPWC_KERNEL_ISA=scalar|avx2|avx512`` names. Without a build (no
compiler at install time, ``CPWC_NO_EXT=1``) the layers run on PyTorch.
"""

import contextlib
import importlib
import os
from types import ModuleType
from typing import Dict, Iterator, Optional, Tuple

from .cpu_isa import KERNEL_ISAS, runnable_isas


def _import_build(isa: str) -> ModuleType:
    """The extension module for ``isa`` (ImportError if unbuilt); import
    only what the CPU runs: its initialisation may use the instruction
    set."""
    return importlib.import_module(f'{__package__}._cpu_kernels_{isa}')


def _load() -> Tuple[Optional[ModuleType], Optional[str]]:
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
    return None, f'extension not built ({"; ".join(errors)})'


#: the build in use (None: none), and why there is none
module, reason = _load()


def cpu_kernels_reason() -> Optional[str]:
    """Why the CPU kernels are unavailable, or None if they are."""
    return reason


def cpu_kernels_available() -> bool:
    """Whether the CPU kernels are built for this CPU."""
    return module is not None


def cpu_kernels_isa() -> Optional[str]:
    """The instruction set of the build in use (``'avx512'``, ``'avx2'``
    or ``'scalar'``), or None."""
    return None if module is None else module.isa


def kernel_builds() -> Dict[str, ModuleType]:
    """Every build that is built and that this CPU runs, by instruction
    set, best first (tests run each one)."""
    builds = {}
    for isa in runnable_isas():
        try:
            builds[isa] = _import_build(isa)
        except ImportError:
            pass
    return builds


@contextlib.contextmanager
def use_kernel_isa(isa: str) -> Iterator[None]:
    """Within the block, the CPU kernels are the build for ``isa`` (tests,
    benchmarks; ``CPWC_KERNEL_ISA`` does it for a whole process).

    Raises:
        RuntimeError: if that build is not built or the CPU does not run it.
    """
    global module, reason
    builds = kernel_builds()
    if isa not in builds:
        raise RuntimeError(
            f'no {isa!r} build of the CPU kernels for this CPU (built and '
            f'runnable: {", ".join(builds) or "none"})'
        )
    saved = module, reason
    module, reason = builds[isa], None
    try:
        yield
    finally:
        module, reason = saved


@contextlib.contextmanager
def without_cpu_kernels() -> Iterator[None]:
    """Within the block, no CPU kernel is available (as on a GPU machine
    built without them): tests, gpu_check.py's CPU mode."""
    global module, reason
    saved = module, reason
    module, reason = None, 'switched off for this block'
    try:
        yield
    finally:
        module, reason = saved
