"""CoC's layout: conv kernels <-> the "image" the super kernel convolves.

Groups of ``sa * sa`` consecutive output kernels are tiled ``sa x sa``: kernel
``j`` of a group goes to tile ``(j // sa, j % sa)``. The input channels act as
the batch and each group is one channel of the image.
"""

import torch.nn.functional as F
from torch import Tensor


def padded_out_channels(out_channels: int, sa: int) -> int:
    """``out_channels`` rounded up to a multiple of ``sa ** 2``."""
    return -(-out_channels // sa**2) * sa**2


def kernels_to_image(weight: Tensor, sa: int) -> Tensor:
    """Tile conv kernels into CoC's image form.

    Args:
        weight (Tensor): ``(co, ci, k, k)``; ``co`` is zero-padded up to a
            multiple of ``sa ** 2``.
        sa (int): tiles per side.

    Returns:
        Tensor: ``(ci, co_pad / sa**2, sa * k, sa * k)``.
    """
    co, ci, k, _ = weight.shape
    co_pad = padded_out_channels(co, sa)
    weight = F.pad(weight, (0, 0, 0, 0, 0, 0, 0, co_pad - co))
    groups = co_pad // sa**2
    tiles = weight.reshape(groups, sa, sa, ci, k, k)
    return tiles.permute(3, 0, 1, 4, 2, 5).reshape(ci, groups, sa * k, sa * k)


def image_to_kernels(image: Tensor, sa: int, out_channels: int) -> Tensor:
    """Inverse of :func:`kernels_to_image`, dropping the padded kernels.

    Args:
        image (Tensor): ``(ci, groups, sa * k, sa * k)``.
        sa (int): tiles per side.
        out_channels (int): co, kernels to keep.

    Returns:
        Tensor: ``(co, ci, k, k)``.
    """
    ci, groups, size, _ = image.shape
    k = size // sa
    tiles = image.reshape(ci, groups, sa, k, sa, k)
    kernels = tiles.permute(1, 2, 4, 0, 3, 5).reshape(groups * sa**2, ci, k, k)
    return kernels[:out_channels]
