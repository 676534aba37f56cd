"""The few torch APIs the ops use that are newer than torch 2.1, the oldest
torch the project supports (``setup.py``); each has a fallback here, so the
ops call nothing the oldest torch lacks."""

import torch


def is_compiling() -> bool:
    """Whether torch.compile (dynamo) is tracing the caller."""
    compiler = getattr(torch, 'compiler', None)
    if compiler is not None and hasattr(compiler, 'is_compiling'):  # >= 2.3
        return compiler.is_compiling()
    dynamo = getattr(torch, '_dynamo', None)  # torch 2.1, 2.2
    return bool(dynamo is not None and dynamo.is_compiling())


def is_exporting() -> bool:
    """Whether the forward is scripted, traced or exported to ONNX, which
    must see plain PyTorch convs."""
    return (
        torch.jit.is_scripting()
        or torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
    )


def autocast_dtype(device_type: str):
    """The autocast dtype for ``device_type`` if autocast is on there, else
    None."""
    if hasattr(torch, 'get_autocast_dtype'):  # >= 2.4
        if torch.is_autocast_enabled(device_type):
            return torch.get_autocast_dtype(device_type)
        return None
    if device_type == 'cuda' and torch.is_autocast_enabled():
        return torch.get_autocast_gpu_dtype()
    if device_type == 'cpu' and torch.is_autocast_cpu_enabled():
        return torch.get_autocast_cpu_dtype()
    return None


def custom_op_missing() -> str:
    """Why the Triton op cannot be defined on this torch ('' if it can):
    it is a ``torch.library.custom_op`` (torch >= 2.4)."""
    if hasattr(torch.library, 'custom_op'):
        return ''
    return (
        f'torch {torch.__version__} has no torch.library.custom_op '
        '(torch >= 2.4 defines the Triton op)'
    )
