"""Load mmengine checkpoints with ``torch.load(weights_only=True)``.

torch >= 2.6 refuses to unpickle anything but tensors and plain containers
unless a type is allow-listed. mmengine 0.10.7's checkpoints also hold its
``HistoryBuffer`` (the message hub's log history), numpy arrays, scalars and
dtypes, and ``getattr(HistoryBuffer, 'min')`` (``HistoryBuffer.__getstate__``
stores its statistics functions, and pickle protocol 2 writes a class's
function that way). This module allow-lists exactly those, once, at
``import cpwc_mmdet``: ``getattr`` resolves to :func:`history_buffer_getattr`,
which answers nothing but those functions. Anything else (e.g. a pickle that
would run code) is still refused by torch. Safety is never turned off: no
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``, no ``weights_only=False``.
"""

import pickle
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
    return [
        multiarray._reconstruct,
        multiarray.scalar,
        np.ndarray,
        np.dtype,
        *dtype_classes,
    ]


def history_buffer_getattr(obj, name: str):
    """``getattr`` as mmengine's checkpoints use it, and for nothing else:
    ``HistoryBuffer``'s statistics functions (``min``, ``max``, ...)."""
    from mmengine.logging.history_buffer import HistoryBuffer

    statistics = {
        'min',
        'max',
        'current',
        'mean',
        *HistoryBuffer._statistics_methods,
    }
    if obj is HistoryBuffer and isinstance(name, str) and name in statistics:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint'
    )


def mmengine_checkpoint_globals() -> List[object]:
    """Exactly the globals mmengine 0.10.7 writes into checkpoints; items
    ``(callable, name)`` resolve the global ``name`` to ``callable``."""
    from mmengine.logging.history_buffer import HistoryBuffer

    return [
        HistoryBuffer,
        *_numpy_globals(),
        (history_buffer_getattr, '__builtin__.getattr'),
        (history_buffer_getattr, 'builtins.getattr'),
    ]


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


def refusal_reason(err: pickle.UnpicklingError) -> str:
    """The one informative sentence of torch's weights_only refusal."""
    boilerplate = (
        'Weights only load failed',
        'Please file an issue',
        'Check the documentation',
        'In PyTorch',
        'Re-running',
    )
    lines = [
        line.replace('WeightsUnpickler error:', '').strip()
        for line in str(err).splitlines()
    ]
    useful = [
        line for line in lines if line and not line.startswith(boilerplate)
    ]
    return ' '.join(useful) or str(err).strip()


def safe_load(path: str, map_location='cpu'):
    """``torch.load(path, weights_only=True)`` with the allow-list above."""
    register_safe_globals()
    return torch.load(path, map_location=map_location, weights_only=True)
