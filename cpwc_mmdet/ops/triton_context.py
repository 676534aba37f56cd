"""``cpwc::context_unit``: CPWC's context unit as one ``torch.library`` op.

``out = base + s1(x) + s2(s1(x))`` computed by the Triton kernels of
``triton_context_kernels`` (one pass forward, two backward), with its
backward registered as the op ``cpwc::context_unit_backward``, so autograd,
autocast, DDP and torch.compile see two opaque ops instead of a dozen.
CUDA tensors of any layout (NCHW or channels_last, addressed by strides);
float32 / float16 / bfloat16 activations and weights, float32 sums. The
kernels run on the device of their tensors (a device guard), and address
them with int32 offsets (tensors whose largest offset exceeds that are
refused; ``context_unit`` sends them to PyTorch). On CPU tensors the op runs
only under Triton's interpreter (``TRITON_INTERPRET=1`` set before this
module is imported), which is how the tests check it.

Importing this module needs ``triton`` and ``torch.library.custom_op``
(torch >= 2.4); ``context_unit`` imports it only when a CUDA tensor arrives
and both are there.
"""

import contextlib
from typing import List, NamedTuple, Optional, Tuple

import torch
import triton
from torch import Tensor

from . import triton_context_kernels as kernels
from .kernel_choices import launch_config, size_bucket
from .torch_context import output_format

#: the largest element offset int32 indexing reaches
INT32_MAX = 2**31 - 1


class Geometry(NamedTuple):
    """Shapes and segment scalars the kernels take, by these names (see the
    kernels' module docstring)."""

    N: int
    C: int
    H: int
    W: int
    Z: int
    Ho: int
    Wo: int
    ZS1: int
    CS1: int
    WIDTH0: int
    WIDTH1: int
    EXPAND: bool
    STRIDE: int


def geometry(
    x: Tensor,
    w1: Tensor,
    w2: Optional[Tensor],
    base: Optional[Tensor],
    segments: List[int],
    stride: int,
) -> Geometry:
    """Check the op's arguments (see ``context_unit``) and derive the
    kernels' scalars."""
    if x.dim() != 4:
        raise ValueError(f'x must be (N, C, H, W), got {tuple(x.shape)}')
    if len(segments) not in (4, 8) or stride < 1:
        raise ValueError(
            f'need 1 or 2 segment rows of 4 and a positive stride, got '
            f'segments={segments}, stride={stride}'
        )
    rows = [segments[i : i + 4] for i in range(0, len(segments), 4)]
    if rows[0][:2] != [0, 0] or (len(rows) == 2 and rows[1][1] != rows[0][2]):
        raise ValueError(
            f'segments do not start at channel 0 or are not '
            f'consecutive: {segments}'
        )
    N, C, H, W = x.shape
    Z = rows[-1][1] + rows[-1][2]
    Ho, Wo = (H - 1) // stride + 1, (W - 1) // stride + 1
    members = Z if Z > C else C
    expected = [('w1', w1, (members, 9)), ('w2', w2, (Z, 9))]
    expected.append(('base', base, (N, Z, Ho, Wo)))
    for name, tensor, shape in expected:
        if tensor is not None and tuple(tensor.shape) != shape:
            raise ValueError(
                f'{name} must be {shape} for x {tuple(x.shape)}, Z={Z}, '
                f'stride {stride}, got {tuple(tensor.shape)}'
            )
    if not fits_int32(x, base, Z):
        raise ValueError('tensors address past 2**31 - 1 elements (int32)')
    # one segment: segment 1 starts past the last channel
    second = rows[1] if len(rows) == 2 else [C, Z, 0, rows[0][3]]
    return Geometry(
        N, C, H, W, Z, Ho, Wo, second[1], second[0], rows[0][3], second[3],
        Z > C, stride,
    )  # fmt: skip


def largest_offset(t: Tensor) -> int:
    """The largest element offset ``t`` addresses from its data pointer:
    ``sum((size - 1) * stride)`` (any layout, views included)."""
    if t.numel() == 0:
        return 0
    return sum((n - 1) * s for n, s in zip(t.shape, t.stride()))


def fits_int32(x: Tensor, base: Optional[Tensor], z: int = 0) -> bool:
    """Whether the op's int32 offsets reach every element it reads and
    writes: ``x``, ``base`` (or the ``(N, z, H, W)`` output, the largest
    activation the backward writes too, in x's layout)."""
    n, c, h, w = x.shape
    widest = max(c, z) * n * h * w
    largest = max(
        largest_offset(x), 0 if base is None else largest_offset(base)
    )
    return max(largest, widest - 1) <= INT32_MAX


def _widths(geo: Geometry) -> Tuple[int, int]:
    """Largest member count per output channel and per input channel."""
    widest = max(geo.WIDTH0, geo.WIDTH1)
    return (1, widest) if geo.EXPAND else (widest, 1)


def _empty_output(x: Tensor, geo: Geometry) -> Tensor:
    return torch.empty(
        (geo.N, geo.Z, geo.Ho, geo.Wo),
        dtype=x.dtype,
        device=x.device,
        memory_format=output_format(x),
    )


def _strides(prefix: str, t: Tensor) -> dict:
    """``{prefix}n``, ``{prefix}c``, ``{prefix}h``, ``{prefix}w``: t's
    strides as the kernels' keyword arguments."""
    return dict(zip((prefix + axis for axis in 'nchw'), t.stride()))


def _grid(rows: int, cols: int, channels: int, geo: Geometry):
    return lambda meta: (
        geo.N
        * triton.cdiv(rows, meta['BLOCK_H'])
        * triton.cdiv(cols, meta['BLOCK_W']),
        triton.cdiv(channels, meta['BLOCK_Z']),
    )


def launch_keys(
    x: Tensor, geo: Geometry, stage2: bool, pwc: bool, needs=(True,) * 3
) -> dict:
    """Kernel name -> the key its launch configuration is looked up by in
    the choices file: the layer's configuration, x's dtype and layout and
    the output's size bucket (a ``kernel_choices.Problem`` less its
    gradients), and for the backward kernels which of their outputs are
    needed."""
    need_x, need_w1, need_w2 = needs
    need_w2 = need_w2 and stage2
    need_gs = need_x or need_w1
    layer = ','.join(
        str(v)
        for v in (
            geo.C,
            geo.Z,
            geo.STRIDE,
            stage2,
            pwc,
            str(x.dtype).replace('torch.', ''),
            x.is_contiguous(memory_format=torch.channels_last),
            size_bucket(geo.N * geo.Ho * geo.Wo),
        )
    )
    return dict(
        context_forward_kernel=layer,
        stage2_backward_kernel=f'{layer},{need_gs},{need_w2}',
        stage1_backward_kernel=f'{layer},{need_x},{need_w1}',
    )


def _launch(kernel: str, keys: dict, device: torch.device) -> dict:
    """The launch configuration of ``kernel`` as keyword arguments: the
    choices file's for its key when it names one this kernel may get, else
    the kernel's default (nothing autotunes at run time)."""
    allowed = kernels.configs_of(kernel)
    found = launch_config(kernel, keys[kernel], device)
    h, w, z, warps = found if found in allowed else allowed[0]
    return dict(
        BLOCK_H=h, BLOCK_W=w, BLOCK_Z=z, num_warps=warps,
        maxnreg=kernels.MAX_REGISTERS,
    )  # fmt: skip


def _device_of(x: Tensor):
    """A guard that makes ``x``'s device current (Triton launches on the
    current device), after checking the kernels can run there."""
    if x.device.type == 'cuda':
        return torch.cuda.device(x.device)
    if not kernels.INTERPRET:
        raise RuntimeError(
            'cpwc::context_unit runs on CUDA tensors (CPU tensors only '
            'under TRITON_INTERPRET=1), got a tensor on ' + str(x.device)
        )
    return contextlib.nullcontext()


@torch.library.custom_op('cpwc::context_unit', mutates_args=())
def triton_context_unit(
    x: Tensor,
    w1: Tensor,
    w2: Optional[Tensor],
    base: Optional[Tensor],
    segments: List[int],
    stride: int,
) -> Tensor:
    """``base + s1(x) + s2(s1(x))`` in one pass over ``x``.

    Args:
        x (Tensor): ``(N, C, H, W)``, any layout.
        w1 (Tensor): ``(M, 9)`` stage-1 member kernels: the stage-1 convs'
            weights reshaped to ``(-1, 9)`` and concatenated.
        w2 (Tensor | None): ``(Z, 9)`` stage-2 kernels; None: no stage 2.
        base (Tensor | None): ``(N, Z, H', W')`` added to the result.
        segments (list[int]): the layer's segment table
            (``cpwc_groups.segment_rows``).
        stride (int): stride of stage 1.

    Returns:
        Tensor: ``(N, Z, H', W')`` in x's dtype and layout,
        ``H' = ceil(H / stride)``.
    """
    guard = _device_of(x)
    geo = geometry(x, w1, w2, base, segments, stride)
    out = _empty_output(x, geo)
    if out.numel() == 0:
        return out
    w1 = w1.contiguous()
    w2c = w1 if w2 is None else w2.contiguous()
    base_t = out if base is None else base
    keys = launch_keys(x, geo, w2 is not None, base is not None)
    with guard:
        kernels.context_forward_kernel[_grid(geo.Ho, geo.Wo, geo.Z, geo)](
            x,
            w1,
            w2c,
            base_t,
            out,
            **_strides('sx', x),
            **_strides('sb', base_t),
            **_strides('so', out),
            MAX_WIDTH=_widths(geo)[0],
            HAS_S2=w2 is not None,
            HAS_BASE=base is not None,
            **_launch('context_forward_kernel', keys, x.device),
            **geo._asdict(),
        )
    return out


@triton_context_unit.register_fake
def _context_unit_fake(x, w1, w2, base, segments, stride):
    return _empty_output(x, geometry(x, w1, w2, base, segments, stride))


@torch.library.custom_op('cpwc::context_unit_backward', mutates_args=())
def context_unit_backward(
    grad: Tensor,
    x: Tensor,
    w1: Tensor,
    w2: Optional[Tensor],
    segments: List[int],
    stride: int,
    needs: List[bool],
) -> Tuple[Tensor, Tensor, Tensor]:
    """Gradients of ``triton_context_unit`` w.r.t. ``x``, ``w1``, ``w2``.

    Args:
        grad (Tensor): ``(N, Z, H', W')`` gradient of the output.
        x, w1, w2, segments, stride: the forward's arguments.
        needs (list[bool]): which of the three gradients to compute; the
            others come back empty.

    Returns:
        tuple[Tensor]: ``grad x`` (x's layout and dtype), ``grad w1``,
        ``grad w2`` (the weights' dtypes; summed in float32).
    """
    guard = _device_of(x)
    geo = geometry(x, w1, w2, grad, segments, stride)
    need_x, need_w1, need_w2 = needs
    need_w2 = need_w2 and w2 is not None
    grad_x = torch.empty_like(x) if need_x else x.new_empty(0)
    # float32 sums, also when not needed (then empty)
    grad_w1, grad_w2 = (
        torch.zeros(shape if need else 0, dtype=torch.float32, device=x.device)
        for shape, need in ((w1.shape, need_w1), ((geo.Z, 9), need_w2))
    )
    if grad.numel() == 0 or x.numel() == 0:
        return (
            grad_x.zero_(),
            grad_w1.to(w1.dtype),
            grad_w2.to(w2.dtype if need_w2 else w1.dtype),
        )
    with guard:
        _backward_kernels(
            grad, x, w1, w2, grad_x, grad_w1, grad_w2, geo, needs
        )
    return (
        grad_x,
        grad_w1.to(w1.dtype),
        grad_w2.to(w2.dtype if need_w2 else w1.dtype),
    )


def _backward_kernels(grad, x, w1, w2, grad_x, grad_w1, grad_w2, geo, needs):
    """Launch the two backward passes (see the kernels' docstring): stage
    2's, which also makes the gradient of s1, then stage 1's."""
    need_x, need_w1, need_w2 = needs
    need_w2 = need_w2 and w2 is not None
    need_gs = need_x or need_w1
    keys = launch_keys(x, geo, w2 is not None, True, needs)
    w1 = w1.contiguous()
    z_width, c_width = _widths(geo)
    if w2 is not None and (need_gs or need_w2):
        grad_s1 = (
            torch.empty(
                grad.shape,
                dtype=grad.dtype,
                device=grad.device,
                memory_format=output_format(grad),
            )
            if need_gs
            else grad
        )
        kernels.stage2_backward_kernel[_grid(geo.Ho, geo.Wo, geo.Z, geo)](
            grad,
            x,
            w1,
            w2.contiguous(),
            grad_s1,
            grad_w2,
            **_strides('sg', grad),
            **_strides('sx', x),
            **_strides('ss', grad_s1),
            MAX_WIDTH=z_width,
            NEED_GS=need_gs,
            NEED_W2=need_w2,
            **_launch('stage2_backward_kernel', keys, x.device),
            **geo._asdict(),
        )
    else:
        grad_s1 = grad
    if need_gs:
        kernels.stage1_backward_kernel[_grid(geo.H, geo.W, geo.C, geo)](
            grad_s1,
            x,
            w1,
            grad_x if need_x else x,
            grad_w1,
            **_strides('ss', grad_s1),
            **_strides('sx', x),
            **_strides('sg', grad_x if need_x else x),
            MAX_WIDTH=c_width,
            NEED_X=need_x,
            NEED_W1=need_w1,
            **_launch('stage1_backward_kernel', keys, x.device),
            **geo._asdict(),
        )


@context_unit_backward.register_fake
def _context_unit_backward_fake(grad, x, w1, w2, segments, stride, needs):
    need_x, need_w1, need_w2 = needs
    return (
        torch.empty_like(x) if need_x else x.new_empty(0),
        w1.new_empty(w1.shape) if need_w1 else w1.new_empty(0),
        w2.new_empty(w2.shape)
        if need_w2 and w2 is not None
        else w1.new_empty(0),
    )


def _setup_context(ctx, inputs, output):
    x, w1, w2, base, segments, stride = inputs
    ctx.save_for_backward(x, w1, w2)
    ctx.segments, ctx.stride = segments, stride
    ctx.base_dtype = None if base is None else base.dtype


def _backward(ctx, grad):
    x, w1, w2 = ctx.saved_tensors
    need_x, need_w1, need_w2, need_base = ctx.needs_input_grad[:4]
    grad_x = grad_w1 = grad_w2 = None
    if need_x or need_w1 or need_w2:
        grad_x, grad_w1, grad_w2 = context_unit_backward(
            grad,
            x,
            w1,
            w2,
            ctx.segments,
            ctx.stride,
            [need_x, need_w1, need_w2],
        )
    return (
        grad_x if need_x else None,
        grad_w1 if need_w1 else None,
        grad_w2 if need_w2 else None,
        grad.to(ctx.base_dtype) if need_base else None,
        None,
        None,
    )


triton_context_unit.register_autograd(_backward, setup_context=_setup_context)
