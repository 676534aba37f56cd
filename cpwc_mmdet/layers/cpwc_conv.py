"""CPWConv2d: contextual pointwise convolution (Mazumder et al., ICASSP 2021).

``out = pwc(x) + s1(x) + s2(s1(x))``, see ``shared/spec/CPWC.md``.
"""

from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..ops import fused_context
from ..ops.cuda_dispatch import cuda_context_unit
from ..utils.checks import check_bool, check_positive_int, to_square
from .cpwc_groups import Segment, stage1_segments
from .registry import register_conv_layer


@register_conv_layer
class CPWConv2d(nn.Module):
    """A 1x1 convolution with a parallel two-stage spatial context unit.

    The signature is nn.Conv2d's, so ``conv_cfg=dict(type='CPWConv2d')``
    builds it wherever mmcv's ``build_conv_layer`` builds a 1x1 conv.

    Args:
        in_channels (int): C, channels of the input ``(N, C, H, W)``.
        out_channels (int): Z, channels of the output ``(N, Z, H', W')``.
        kernel_size (int): must be 1 (it replaces a pointwise conv).
        stride (int | tuple[int, int]): stride of the 1x1 path and of stage
            1 (square). Defaults to 1.
        padding (int): must be 0, as for the 1x1 conv it replaces.
        dilation (int): must be 1.
        groups (int): must be 1.

    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` read back as
    pairs and ``groups`` as an int, as on ``nn.Conv2d``.
        bias (bool): bias of the 1x1 path only. Defaults to False.
        stage2 (bool): keep the depthwise 3x3 stage 2. Defaults to True.
        pwc (bool): keep the 1x1 path. Defaults to True.

    Attributes:
        pwc (nn.Conv2d | None): the dense 1x1 conv, ``C -> Z``.
        stage1 (nn.ModuleList[nn.Conv2d]): one or two grouped 3x3 convs; the
            i-th reads input channels ``segments[i]`` (see ``cpwc_groups``).
        stage2 (nn.Conv2d | None): depthwise 3x3, ``Z -> Z``, stride 1.
        use_fused_kernel (bool): class default True; set False on a layer to
            keep inference on the PyTorch path (``CPWC_FUSED=0`` does it
            for all layers).

    Example:
        >>> layer = CPWConv2d(256, 64)
        >>> layer(torch.rand(2, 256, 14, 14)).shape
        torch.Size([2, 64, 14, 14])
        >>> sum(p.numel() for p in layer.parameters())  # 16384 + 9*256 + 9*64
        19264
    """

    use_fused_kernel = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
        stage2: bool = True,
        pwc: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int('in_channels', in_channels)
        self.out_channels = check_positive_int('out_channels', out_channels)
        stride = to_square('stride', stride)
        self.stride = (stride, stride)
        self.kernel_size, self.padding, self.dilation = (1, 1), (0, 0), (1, 1)
        self.groups = 1
        for name, value, expected in (
            ('kernel_size', kernel_size, 1),
            ('dilation', dilation, 1),
            ('groups', groups, 1),
        ):
            if to_square(name, value) != expected:
                raise ValueError(
                    f'{name} must be {expected} for CPWConv2d '
                    f'(it replaces a pointwise conv), got '
                    f'{value!r}'
                )
        if padding not in (0, (0, 0), [0, 0]):
            raise ValueError(
                f'padding must be 0 for CPWConv2d, got {padding!r}'
            )
        check_bool('bias', bias)
        self.with_stage2 = check_bool('stage2', stage2)
        self.with_pwc = check_bool('pwc', pwc)

        self.pwc = (
            nn.Conv2d(in_channels, out_channels, 1, stride, bias=bias)
            if pwc
            else None
        )
        self.segments: List[Segment] = stage1_segments(
            in_channels, out_channels
        )
        self.stage1 = nn.ModuleList(
            nn.Conv2d(
                seg.in_channels,
                seg.out_channels,
                3,
                stride,
                padding=1,
                groups=seg.groups,
                bias=False,
            )
            for seg in self.segments
        )
        self.stage2 = (
            nn.Conv2d(
                out_channels,
                out_channels,
                3,
                padding=1,
                groups=out_channels,
                bias=False,
            )
            if stage2
            else None
        )
        self._kernel_args: Optional[tuple] = None  # fused C++ kernel's weights
        self._segment_table = fused_context.segment_table(
            self.segments, in_channels, out_channels
        )  # fixed by the shape

    @property
    def weight(self) -> Tensor:
        """The 1x1 weight ``(Z, C, 1, 1)``, for code that reads ``conv.weight``."""
        if self.pwc is None:
            raise AttributeError('CPWConv2d(pwc=False) has no 1x1 weight')
        return self.pwc.weight

    def forward_stage1(self, x: Tensor) -> Tensor:
        """Stage 1: ``(N, C, H, W) -> (N, Z, H', W')``.

        A segment whose groups read ``r > 1`` channels (Z < C) runs as one
        depthwise conv over its channels and a sum over each group's ``r``
        outputs: the same function as the grouped conv, and several times
        faster on CPUs (oneDNN's grouped conv with few channels per group is
        slow). Other segments run as grouped convs.
        """
        outs = []
        for seg, conv in zip(self.segments, self.stage1):
            kernel = conv.weight
            part = (
                x
                if len(self.segments) == 1
                else x[:, seg.in_start : seg.in_start + seg.in_channels]
            )
            per_group = seg.in_channels // seg.groups
            if per_group > 1:
                out = F.conv2d(
                    part,
                    kernel.reshape(seg.in_channels, 1, 3, 3),
                    None,
                    self.stride,
                    1,
                    1,
                    seg.in_channels,
                )
                out = out.unflatten(1, (seg.groups, per_group)).sum(2)
            else:
                out = F.conv2d(
                    part, kernel, None, self.stride, 1, 1, seg.groups
                )
            outs.append(out)
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Also load a plain 1x1 conv's ``weight`` (/``bias``): it becomes
        the 1x1 path and the context weights start at zero, so the layer
        computes exactly what the plain conv computed (inflation)."""
        if (
            prefix + 'weight' in state_dict
            and prefix + 'pwc.weight' not in state_dict
            and self.pwc is not None
        ):
            for name in ('weight', 'bias'):
                if prefix + name in state_dict:
                    state_dict[f'{prefix}pwc.{name}'] = state_dict.pop(
                        prefix + name
                    )
            for name, param in self.named_parameters():
                if not name.startswith('pwc.'):
                    state_dict.setdefault(
                        prefix + name, torch.zeros_like(param)
                    )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _fused_kernel_args(self) -> tuple:
        """(w1, w2, segment table) in the fused kernel's layout; the weights
        are cached until one changes (in-place updates bump ``_version``)."""
        params = [conv.weight for conv in self.stage1]
        if self.stage2 is not None:
            params.append(self.stage2.weight)
        key = tuple((p.data_ptr(), p._version) for p in params)
        if self._kernel_args is None or self._kernel_args[0] != key:
            with torch.no_grad():
                w1 = fused_context.tap_major(params[: len(self.stage1)])
                w2 = (
                    None
                    if self.stage2 is None
                    else fused_context.tap_major([self.stage2.weight])
                )
            self._kernel_args = (key, w1, w2)
        return (*self._kernel_args[1:], self._segment_table)

    def _can_fuse(self, x: Tensor) -> bool:
        """Whether the fused C++ kernel computes this forward: inference
        (no autograd), CPU float32 channels_last, not traced or exported."""
        if not (self.use_fused_kernel and fused_context.qualifies(x)):
            return False
        if torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad for p in self.parameters())
        ):
            return False
        return not fused_context.is_exporting()

    def _forward_fused(self, x: Tensor) -> Tensor:
        """Inference through the fused kernel: the 1x1 path by oneDNN, then
        ``out += s1 + s2(s1)`` in one pass (``cpwc_mmdet/ops``)."""
        if self.pwc is not None:
            out = self.pwc(x).contiguous(memory_format=torch.channels_last)
        else:
            size = [(s - 1) // self.stride[0] + 1 for s in x.shape[2:]]
            out = torch.empty(
                (x.shape[0], self.out_channels, *size),
                dtype=x.dtype,
                device=x.device,
                memory_format=torch.channels_last,
            ).zero_()
        w1, w2, table = self._fused_kernel_args()
        return fused_context.fused_context_unit_(
            out, x, w1, w2, table, self.stride[0]
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, Z, ceil(H/stride), ceil(W/stride))``.

        On CUDA, the Triton op (``cpwc::context_unit``, forward and
        backward) or PyTorch convs, whichever was measured faster for this
        shape and dtype (``CPWC_CUDA_KERNEL=auto|triton|torch``). Inference
        on CPU (float32, channels_last) runs the fused C++ kernel when it is
        built (``cpwc_mmdet.ops``); otherwise, and whenever a gradient is
        needed, PyTorch convs. Sums accumulate in place into the
        1x1 path's output (no conv needs its own output for backward), which
        saves two large allocations.
        """
        if x.is_cuda:  # the Triton op or PyTorch convs, chosen per shape
            out = cuda_context_unit(self, x)
            if out is not None:
                return out
        if self._can_fuse(x):
            return self._forward_fused(x)
        context = self.forward_stage1(x)
        extra = self.stage2(context) if self.stage2 is not None else None
        if self.pwc is None:
            return context if extra is None else context + extra
        out = self.pwc(x)
        out += context
        if extra is not None:
            out += extra
        return out

    def extra_repr(self) -> str:
        return (
            f'{self.in_channels}, {self.out_channels}, '
            f'stride={self.stride[0]}, stage2={self.with_stage2}, '
            f'pwc={self.with_pwc}'
        )
