"""The bottom floor: the methods' computations as pure functions of
tensors and ints, and the kernels that compute them (CPU C++, GPU Triton,
PyTorch). CPWC's context unit (``context_unit``) and CoC's weight
derivation (``coc_weight``). Nothing here imports the rest of the
package."""

from .coc_weight import coc_weight
from .cpu_kernels import (
    cpu_kernels_available,
    cpu_kernels_isa,
    cpu_kernels_reason,
)
from .cpwc_groups import group_members, segment_rows, stage1_segments
from .dispatch import context_unit, fused_applies
from .kernel_mode import kernel_mode, use_kernel

__all__ = [
    'context_unit',
    'coc_weight',
    'fused_applies',
    'group_members',
    'segment_rows',
    'stage1_segments',
    'cpu_kernels_available',
    'cpu_kernels_isa',
    'cpu_kernels_reason',
    'kernel_mode',
    'use_kernel',
]
