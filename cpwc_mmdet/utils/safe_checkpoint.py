"""Load mmengine checkpoints with ``torch.load(weights_only=True)``.

torch >= 2.6 refuses to unpickle anything but tensors and plain containers
unless a type is allow-listed. mmengine 0.10.7's checkpoints also hold its
``HistoryBuffer`` (the message hub's log history) and numpy arrays, scalars
and dtypes. This module allow-lists exactly those types, once, at
``import cpwc_mmdet``; anything else (e.g. a pickle that would run code) is
still refused by torch. Safety is never turned off: no
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``, no ``weights_only=False``.
"""
from typing import List

import numpy as np
import torch


def _numpy_globals() -> List[object]:
    """The numpy callables and classes pickling an array or scalar uses."""
    try:  # numpy >= 2 moved the pickling helpers to numpy._core
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    dtype_classes = [type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDGSUV']
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *dtype_classes]


def mmengine_checkpoint_globals() -> List[object]:
    """Exactly the non-tensor types mmengine 0.10.7 writes into checkpoints."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer, *_numpy_globals()]


_registered = False


def register_safe_globals() -> None:
    """Allow-list mmengine's checkpoint types for ``weights_only`` loading.

    Idempotent; a no-op on torch without ``add_safe_globals`` (< 2.4).
    """
    global _registered
    if _registered or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
    _registered = True


def safe_load(path: str, map_location='cpu'):
    """``torch.load(path, weights_only=True)`` with the allow-list above."""
    register_safe_globals()
    return torch.load(path, map_location=map_location, weights_only=True)
