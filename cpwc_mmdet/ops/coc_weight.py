"""``coc_weight``: a CoC conv's weight from its parameters, by the fused
CPU kernel or by PyTorch ops.

The derivation (``shared/spec/COC.md``, steps 1-5): the image of tiled
kernels convolved by the depthwise super kernel, a LayerNorm over each
input channel's ``(G, S, S)`` row with an elementwise affine, the image
added back (``skip``), the image laid back as kernels, and (orth) a
LayerNorm over each output channel's ``(ci, k, k)`` with an elementwise
affine. The weight comes contiguous or channels_last, as the conv that
takes it runs.

* ``cpu-fused`` (``csrc/coc_weight.cpp``): CPU float32 / float64, forward
  and backward, each one pass over the image and one over the weight (the
  image parameter kept channels_last, so every inner loop runs over the G
  groups);
* ``torch``: ``F.conv2d``, ``F.layer_norm``, a permute: everywhere else
  (CUDA, where these small ops are cheap; tracing, export).

``CPWC_KERNEL`` (``kernel_mode``) applies: ``torch`` keeps PyTorch ops.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from . import cpu_kernels
from .coc_layout import image_to_kernels
from .compat import is_exporting
from .kernel_mode import kernel_mode


def coc_weight_torch(
    image: Tensor,
    super_kernel: Tensor,
    norm: Tuple[Optional[Tensor], Optional[Tensor], float],
    weight_norm: Optional[Tuple[Tensor, Tensor, float]],
    sa: int,
    out_channels: int,
    dilation: int,
    skip: bool,
    channels_last: bool = False,
) -> Tensor:
    """The derivation by PyTorch ops (``coc_weight``'s arguments)."""
    size = super_kernel.shape[-1]
    out = F.conv2d(
        image,
        super_kernel,
        padding=(size // 2) * dilation,
        dilation=dilation,
        groups=super_kernel.shape[0],
    )
    out = F.layer_norm(out, image.shape[1:], *norm)
    if skip:
        out = out + image
    weight = image_to_kernels(out, sa, out_channels)
    if weight_norm is not None:
        weight = F.layer_norm(weight, weight.shape[1:], *weight_norm)
    if channels_last:
        weight = weight.contiguous(memory_format=torch.channels_last)
    return weight


class _FusedCoCWeight(torch.autograd.Function):
    """The CPU kernel's forward and backward as one autograd node."""

    @staticmethod
    def forward(ctx, image, kernel, gamma, beta, gamma2, beta2, *args):
        sa, co, dilation, skip, eps, eps2, channels_last = args
        weight, *stats = cpu_kernels.module.coc_weight_forward(
            image, kernel, gamma, beta, gamma2, beta2, sa, co, dilation, skip,
            eps, eps2, channels_last
        )  # fmt: skip
        # (mean, rstd, mean2, rstd2): the LayerNorms' statistics; the
        # backward recomputes the rows from the parameters
        ctx.save_for_backward(image, kernel, gamma, beta, gamma2, *stats)
        ctx.args = (sa, co, dilation, skip, eps)
        ctx.orth = gamma2.numel() > 0
        return weight

    @staticmethod
    def backward(ctx, grad):
        image, kernel, gamma, beta, gamma2, *stats = ctx.saved_tensors
        d_image, d_kernel, d_gamma, d_beta, d_gamma2, d_beta2 = (
            cpu_kernels.module.coc_weight_backward(
                grad, image, kernel, gamma, beta, gamma2, *stats, *ctx.args
            )
        )
        if ctx.orth:
            d_gamma2 = d_gamma2.view(gamma2.shape)
            d_beta2 = d_beta2.view(gamma2.shape)
        else:
            d_gamma2 = d_beta2 = None
        return (d_image, d_kernel, d_gamma, d_beta, d_gamma2, d_beta2,
                *[None] * 7)  # fmt: skip


def fused_applies(image: Tensor, norm) -> bool:
    """Whether the CPU kernel computes this derivation."""
    return (
        kernel_mode() in ('auto', 'cpu-fused')
        and cpu_kernels.module is not None
        and image.device.type == 'cpu'
        and image.dtype in (torch.float32, torch.float64)
        and norm[0] is not None
        and not is_exporting()
    )


def coc_weight(
    image: Tensor,
    super_kernel: Tensor,
    norm: Tuple[Optional[Tensor], Optional[Tensor], float],
    weight_norm: Optional[Tuple[Tensor, Tensor, float]],
    sa: int,
    out_channels: int,
    dilation: int,
    skip: bool,
    channels_last: bool = False,
) -> Tensor:
    """A CoC conv's weight from its parameters.

    Args:
        image (Tensor): ``(ci, G, S, S)``, the tiled kernels (``S = sa k``;
            channels_last keeps the CPU kernel from copying it).
        super_kernel (Tensor): ``(G, 1, s, s)``, standardised or not.
        norm (tuple): ``(gamma, beta, eps)`` of the LayerNorm after the
            super conv; gamma and beta ``(G, S, S)``.
        weight_norm (tuple | None): ``(gamma2, beta2, eps2)`` of the
            per-filter LayerNorm (orth), ``(ci, k, k)``; None: none.
        sa (int): kernels tiled ``sa x sa`` per group.
        out_channels (int): kernels to keep (the rest pad the last group).
        dilation (int): the super kernel's dilation.
        skip (bool): add the image back after the LayerNorm.
        channels_last (bool): the weight's memory format (the conv's
            input's).

    Returns:
        Tensor: ``(out_channels, ci, k, k)``.
    """
    args = (sa, out_channels, dilation, skip)
    if not fused_applies(image, norm):
        return coc_weight_torch(
            image, super_kernel, norm, weight_norm, *args, channels_last
        )
    gamma, beta, eps = norm
    empty = image.new_empty(0)
    gamma2, beta2, eps2 = weight_norm or (empty, empty, 0.0)
    return _FusedCoCWeight.apply(
        image.contiguous(memory_format=torch.channels_last),
        super_kernel.contiguous(),
        gamma.contiguous(),
        beta.contiguous(),
        gamma2.contiguous(),
        beta2.contiguous(),
        *args,
        eps,
        eps2,
        channels_last,
    )
