"""Which builds of the fused CPU kernel a CPU runs.

``setup.py`` compiles the kernel once per instruction set, as the extension
modules ``_cpu_kernels_<isa>``; ``cpu_kernels`` imports the best one the
CPU runs, so a build made on one CPU works on every other.
"""

from typing import Collection, FrozenSet, List, Optional

import torch

#: the kernel's builds, best first
KERNEL_ISAS = ('avx512', 'avx2', 'scalar')

#: the CPU flags each build needs, named as in /proc/cpuinfo
ISA_CPU_FLAGS = {
    'avx512': frozenset(
        {'avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx2', 'fma'}
    ),
    'avx2': frozenset({'avx2', 'fma'}),
    'scalar': frozenset(),
}

# PyTorch's CPU capability -> the flags it implies (where /proc is absent)
_CAPABILITY_FLAGS = {
    'AVX512': ISA_CPU_FLAGS['avx512'],
    'AVX2': ISA_CPU_FLAGS['avx2'],
}


def cpu_flags() -> FrozenSet[str]:
    """This CPU's feature flags, named as in /proc/cpuinfo.

    Linux's /proc/cpuinfo lists only the features the OS has enabled (no
    AVX-512 where the kernel does not save its registers). Without it
    (macOS, Windows), the flags of PyTorch's own CPU capability.
    """
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    return frozenset(line.split(':', 1)[1].split())
    except OSError:
        pass
    else:
        return frozenset()  # a CPU with no x86 flags (ARM, POWER)
    capability = torch.backends.cpu.get_cpu_capability()
    return _CAPABILITY_FLAGS.get(capability, frozenset())


def runnable_isas(flags: Optional[Collection[str]] = None) -> List[str]:
    """The kernel builds a CPU runs, best first.

    Args:
        flags (Collection[str], optional): the CPU's feature flags, named as
            in /proc/cpuinfo. Defaults to this CPU's (:func:`cpu_flags`).

    Returns:
        list[str]: names from :data:`KERNEL_ISAS`; ``'scalar'`` always.

    Example:
        >>> runnable_isas({'sse2', 'avx', 'avx2', 'fma'})
        ['avx2', 'scalar']
    """
    flags = cpu_flags() if flags is None else frozenset(flags)
    return [isa for isa in KERNEL_ISAS if ISA_CPU_FLAGS[isa] <= flags]
