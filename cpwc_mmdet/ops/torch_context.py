"""CPWC's context unit by PyTorch convs: the reference implementation, and
the one that runs wherever the kernels do not (training on CPU, export,
float64, ...).

The arguments are ``context_unit``'s: ``w1`` holds one 3x3 kernel per
stage-1 member (``(M, 9)``), ``segments`` the layer's segment table
(``cpwc_groups.segment_rows``). Each segment is one grouped conv over a
slice of the input; its weight is a slice of ``w1`` (a view).
"""

from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from .compat import autocast_dtype


def _rows(segments: Sequence[int]) -> List[Sequence[int]]:
    return [segments[i : i + 4] for i in range(0, len(segments), 4)]


def stage1(
    x: Tensor, w1: Tensor, segments: Sequence[int], stride: int
) -> Tensor:
    """Stage 1: ``(N, C, H, W) -> (N, Z, H', W')``, one 3x3 filter per
    output channel over its input group.

    A segment whose groups read ``r > 1`` channels (Z < C) runs as one
    depthwise conv over its channels and a sum over each group's ``r``
    outputs: the same function as the grouped conv, and several times
    faster on CPUs (oneDNN's grouped conv with few channels per group is
    slow). Other segments run as grouped convs.
    """
    channels = x.shape[1]
    expand = sum(row[2] for row in _rows(segments)) > channels
    outs = []
    for c0, z0, count, width in _rows(segments):
        if expand:  # Z > C: members are the outputs, e per input channel
            in_channels = count // width
            kernel = w1[z0 : z0 + count].view(count, 1, 3, 3)
        else:  # Z <= C: members are the inputs, r per output channel
            in_channels = count * width
            kernel = w1[c0 : c0 + in_channels].view(in_channels, 1, 3, 3)
        part = x if in_channels == channels else x[:, c0 : c0 + in_channels]
        out = F.conv2d(part, kernel, None, stride, 1, 1, in_channels)
        if not expand and width > 1:  # the sum over each group's members
            out = out.unflatten(1, (count, width)).sum(2)
        outs.append(out)
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)


def stage2(s1: Tensor, w2: Tensor) -> Tensor:
    """Stage 2: the depthwise 3x3 over ``s1`` ``(N, Z, H', W')``."""
    z = w2.shape[0]
    return F.conv2d(s1, w2.view(z, 1, 3, 3), None, 1, 1, 1, z)


def _context(x, w1, w2, segments, stride) -> Tensor:
    """``s1(x) + s2(s1(x))`` (or ``s1(x)`` without stage 2)."""
    context = stage1(x, w1, segments, stride)
    return context if w2 is None else context + stage2(context, w2)


def _conv_grads(grad, inp, weight, stride, groups, needs):
    """Gradients of ``conv2d(inp, weight, stride, padding 1, groups)`` for
    the input and the weight (None where ``needs`` says no): the kernels
    autograd itself runs."""
    grad_in, grad_w, _ = torch.ops.aten.convolution_backward(
        grad, inp, weight, None, [stride] * 2, [1, 1], [1, 1], False,
        [0, 0], groups, [needs[0], needs[1], False],
    )  # fmt: skip
    return grad_in, grad_w


def _stage1_backward(g, x, w1, segments, stride, need_x, need_w1):
    """Gradients of :func:`stage1` w.r.t. ``x`` and ``w1`` for the output
    gradient ``g`` (``(N, Z, H', W')``)."""
    channels = x.shape[1]
    rows = _rows(segments)
    expand = sum(row[2] for row in rows) > channels
    whole = len(rows) == 1  # one segment: its gradients are the whole ones
    grad_x = torch.zeros_like(x) if need_x and not whole else None
    grad_w1 = torch.zeros_like(w1) if need_w1 and not whole else None
    out_start = 0
    for c0, z0, count, width in rows:
        g_seg = g[:, out_start : out_start + count]
        out_start += count
        if expand:
            in_channels, rows_of_w1 = count // width, slice(z0, z0 + count)
        else:
            in_channels = count * width
            rows_of_w1 = slice(c0, c0 + in_channels)
            if width > 1:  # the group sum's gradient: each member gets g
                g_seg = g_seg.repeat_interleave(width, dim=1)
        kernel = w1[rows_of_w1].view(-1, 1, 3, 3)
        part = x[:, c0 : c0 + in_channels]
        gx, gw = _conv_grads(
            g_seg.contiguous(memory_format=output_format(x)),
            part,
            kernel,
            stride,
            in_channels,
            (need_x, need_w1),
        )
        if whole and in_channels == channels:
            return gx, None if gw is None else gw.reshape(w1.shape)
        if need_x:
            if grad_x is None:
                grad_x = torch.zeros_like(x)
            grad_x[:, c0 : c0 + in_channels] += gx
        if need_w1:
            if grad_w1 is None:
                grad_w1 = torch.zeros_like(w1)
            grad_w1[rows_of_w1] = gw.reshape(-1, 9)
    return grad_x, grad_w1


def output_format(x: Tensor) -> torch.memory_format:
    """channels_last for channels_last inputs, else contiguous."""
    channels_last = not x.is_contiguous() and x.is_contiguous(
        memory_format=torch.channels_last
    )
    return torch.channels_last if channels_last else torch.contiguous_format


class _ContextSavingInput(torch.autograd.Function):
    """``s1(x) + s2(s1(x))`` that saves only ``x`` and the weights for
    backward (the 1x1 path saves ``x`` already) and recomputes the cheap
    stage-1 output there when stage 2's weight gradient needs it: autograd
    would keep ``s1``, a tensor the size of the layer's output, per layer.
    Under autocast the recompute casts as the forward's convs did."""

    @staticmethod
    def forward(ctx, x, w1, w2, segments, stride):
        ctx.segments, ctx.stride = segments, stride
        ctx.cast = autocast_dtype(x.device.type)
        ctx.save_for_backward(x, w1, w2)
        return _context(x, w1, w2, segments, stride)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, w1, w2 = ctx.saved_tensors
        need_x, need_w1, need_w2 = ctx.needs_input_grad[:3]
        cast = ctx.cast or g.dtype
        xc, w1c = x.to(cast), w1.to(cast)
        g_s1 = g
        grad_w2 = None
        if w2 is not None and (need_w2 or need_x or need_w1):
            z = w2.shape[0]
            w2c = w2.to(cast).view(z, 1, 3, 3)
            # s1 is needed for stage 2's weight gradient only; g stands in
            # for its shape otherwise (same shape: stage 2 keeps it)
            s1 = stage1(xc, w1c, ctx.segments, ctx.stride) if need_w2 else g
            g_in, g_w = _conv_grads(
                g, s1, w2c, 1, z, (need_x or need_w1, need_w2)
            )
            if g_in is not None:
                g_s1 = g + g_in
            if need_w2:
                grad_w2 = g_w.reshape(w2.shape).to(w2.dtype)
        grad_x, grad_w1 = _stage1_backward(
            g_s1, xc, w1c, ctx.segments, ctx.stride, need_x, need_w1
        )
        return (
            None if grad_x is None else grad_x.to(x.dtype),
            None if grad_w1 is None else grad_w1.to(w1.dtype),
            grad_w2,
            None,
            None,
        )


#: device types where a training call keeps only ``x`` for backward and
#: recomputes stage 1 there (:class:`_ContextSavingInput`): on GPUs memory
#: bounds the batch (CPWC-R50 at 2 x 512x512 saves 948 MiB instead of
#: 1304, ResNet-50 946); on CPUs the recompute made a CPWC-R50 training
#: step 7.5% slower (docs/performance.md) and memory is rarely the limit,
#: so autograd keeps the stage-1 output there (the tests add 'cpu')
SAVE_INPUT_ONLY_ON = ('cuda',)


def context_unit_torch(
    x: Tensor,
    base: Optional[Tensor],
    w1: Tensor,
    w2: Optional[Tensor],
    segments: Sequence[int],
    stride: int,
) -> Tensor:
    """``base + s1(x) + s2(s1(x))`` by PyTorch convs (``context_unit``'s
    arguments). The sums accumulate in place into ``base`` (no conv needs
    its own output for backward), which saves two large allocations. When
    a gradient is needed on a device of :data:`SAVE_INPUT_ONLY_ON`, only
    ``x`` and the weights are kept for backward (:class:`_ContextSavingInput`)."""
    grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, w1, w2)
    )
    if grad and x.device.type in SAVE_INPUT_ONLY_ON:
        context = _ContextSavingInput.apply(x, w1, w2, segments, stride)
        if base is None:
            return context
        base += context
        return base
    context = stage1(x, w1, segments, stride)
    extra = None if w2 is None else stage2(context, w2)
    if base is None:
        return context if extra is None else context + extra
    base += context
    if extra is not None:
        base += extra
    return base
