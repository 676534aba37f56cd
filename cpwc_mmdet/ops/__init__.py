from .fused_context import (
    fused_context_available,
    fused_context_isa,
    fused_context_reason,
    fused_context_unit_,
)

__all__ = [
    'fused_context_available',
    'fused_context_isa',
    'fused_context_reason',
    'fused_context_unit_',
]
