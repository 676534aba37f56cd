"""The bottom floor: CPWC's context unit as a pure function of tensors and
ints, and the kernels that compute it (CPU C++, GPU Triton, PyTorch).
Nothing here imports the rest of the package."""

from .cpwc_groups import group_members, segment_rows, stage1_segments
from .dispatch import context_unit, fused_applies
from .fused_context import (
    fused_context_available,
    fused_context_isa,
    fused_context_reason,
)
from .kernel_mode import kernel_mode, use_kernel

__all__ = [
    'context_unit',
    'fused_applies',
    'group_members',
    'segment_rows',
    'stage1_segments',
    'fused_context_available',
    'fused_context_isa',
    'fused_context_reason',
    'kernel_mode',
    'use_kernel',
]
