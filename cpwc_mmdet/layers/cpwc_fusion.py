"""Fold CPWC's stage 2 into stage 1: pure functions, each tested on its own.

For stride 1, ``s1(x) + s2(s1(x))`` is one 5x5 conv with kernel
``(delta + w2) * w1`` (``*`` a full 2-D convolution, ``delta`` the identity
tap), *except on the outermost ring of pixels*: stage 2 zero-pads stage 1's
output, while the 5x5 conv evaluates stage 1 one pixel outside the image.
:func:`border_correction` computes exactly that difference from four thin
strips of the input (O(H + W) work), so the fused form is exact.
"""
from typing import Callable

import torch.nn.functional as F
from torch import Tensor


def compose_kernels(w1: Tensor, w2: Tensor) -> Tensor:
    """Kernel of ``y + s2(y)`` after ``y = s1(x)``, per output channel.

    Args:
        w1 (Tensor): stage-1 weights ``(Z, r, 3, 3)`` (r channels per group).
        w2 (Tensor): stage-2 depthwise weights ``(Z, 1, 3, 3)``.

    Returns:
        Tensor: ``(Z, r, 5, 5)``: ``full_conv(w1, w2)`` plus ``w1`` at the
        centre.
    """
    z, r = w1.shape[:2]
    padded = F.pad(w1, (2, 2, 2, 2)).reshape(1, z * r, 7, 7)
    flipped = w2.flip(-1, -2).repeat_interleave(r, dim=0)  # (Z*r, 1, 3, 3)
    kernel = F.conv2d(padded, flipped, groups=z * r).reshape(z, r, 5, 5)
    kernel[:, :, 1:4, 1:4] += w1
    return kernel


def border_correction(x: Tensor, stage1_valid: Callable[[Tensor], Tensor],
                      w2: Tensor, out: Tensor) -> Tensor:
    """Subtract, in place, what the fused 5x5 conv adds on the border ring.

    Args:
        x (Tensor): the input ``(N, C, H, W)``.
        stage1_valid (callable): stage 1 without padding, ``(N, C, h, w) ->
            (N, Z, h - 2, w - 2)``.
        w2 (Tensor): stage-2 weights ``(Z, 1, 3, 3)``.
        out (Tensor): the fused conv's output ``(N, Z, H, W)``, corrected in
            place and returned.
    """
    groups = w2.shape[0]
    # stage 1 evaluated on the ring just outside the image
    top = stage1_valid(F.pad(x[:, :, :1], (2, 2, 2, 0)))  # row -1, cols -1..W
    bottom = stage1_valid(F.pad(x[:, :, -1:], (2, 2, 0, 2)))  # row H
    left = stage1_valid(F.pad(x[..., :1], (2, 0, 1, 1)))  # col -1, rows 0..H-1
    right = stage1_valid(F.pad(x[..., -1:], (0, 2, 1, 1)))  # col W
    out[:, :, :1] -= F.conv2d(top, w2[:, :, :1], groups=groups)
    out[:, :, -1:] -= F.conv2d(bottom, w2[:, :, 2:], groups=groups)
    out[..., :1] -= F.conv2d(F.pad(left, (0, 0, 1, 1)), w2[..., :1],
                             groups=groups)
    out[..., -1:] -= F.conv2d(F.pad(right, (0, 0, 1, 1)), w2[..., 2:],
                              groups=groups)
    return out
