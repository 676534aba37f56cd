"""Training memory counted without a device: the bytes of the tensors
autograd saves for backward.

What a GPU user's batch size is bounded by, in the main, is what the
forward pass keeps alive for backward. Counting it through
``torch.autograd.graph.saved_tensors_hooks`` (each storage once, views and
parameters included) gives the same figure on any device, on real tensors
or on fake ones (``FakeTensorMode``: shapes only, nothing computed).
"""

from typing import Callable

import torch


def saved_for_backward_bytes(run: Callable[[], object]) -> int:
    """Bytes of the distinct storages autograd saves while ``run()``
    builds its graph (``run`` is typically a training forward).

    Example:
        >>> w = torch.ones(4, 4, requires_grad=True)
        >>> saved_for_backward_bytes(lambda: (w @ w).sum())  # w, once
        64
    """
    storages = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[storage._cdata] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run()
    return sum(storages.values())
