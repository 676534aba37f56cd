"""CPWConv2d: contextual pointwise convolution (Mazumder et al., ICASSP 2021).

``out = pwc(x) + s1(x) + s2(s1(x))``, see ``shared/spec/CPWC.md``.
"""

from typing import List

import torch
import torch.nn as nn
from torch import Tensor

from ..ops import context_unit, segment_rows, stage1_segments
from ..ops.cpwc_groups import Segment
from ..ops.torch_context import stage1
from ..utils.checks import check_bool, check_positive_int, to_square
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
        segment_rows (tuple[int]): the segment table the context unit reads
            (``cpwc_mmdet.ops.segment_rows``).

    Example:
        >>> layer = CPWConv2d(256, 64)
        >>> layer(torch.rand(2, 256, 14, 14)).shape
        torch.Size([2, 64, 14, 14])
        >>> sum(p.numel() for p in layer.parameters())  # 16384 + 9*256 + 9*64
        19264
    """

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
        self.segment_rows = segment_rows(in_channels, out_channels)

    @property
    def weight(self) -> Tensor:
        """The 1x1 weight ``(Z, C, 1, 1)``, for code that reads ``conv.weight``."""
        if self.pwc is None:
            raise AttributeError('CPWConv2d(pwc=False) has no 1x1 weight')
        return self.pwc.weight

    def stage1_kernels(self) -> Tensor:
        """Stage 1's kernels, one per member, ``(M, 9)``: the context
        unit's ``w1`` (a view of the weight when there is one segment)."""
        kernels = [conv.weight.reshape(-1, 9) for conv in self.stage1]
        return kernels[0] if len(kernels) == 1 else torch.cat(kernels)

    def forward_stage1(self, x: Tensor) -> Tensor:
        """Stage 1 alone: ``(N, C, H, W) -> (N, Z, H', W')``."""
        return stage1(
            x, self.stage1_kernels(), self.segment_rows, self.stride[0]
        )

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

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, Z, ceil(H/stride), ceil(W/stride))``: the
        1x1 path by ``nn.Conv2d``, the context unit by
        ``cpwc_mmdet.ops.context_unit`` (the fused C++ kernel, the Triton
        op or PyTorch convs, whichever applies; ``CPWC_KERNEL``)."""
        base = self.pwc(x) if self.pwc is not None else None
        w2 = None if self.stage2 is None else self.stage2.weight.reshape(-1, 9)
        return context_unit(
            x,
            base,
            self.stage1_kernels(),
            w2,
            self.segment_rows,
            self.stride[0],
        )

    def extra_repr(self) -> str:
        return (
            f'{self.in_channels}, {self.out_channels}, '
            f'stride={self.stride[0]}, stage2={self.with_stage2}, '
            f'pwc={self.with_pwc}'
        )
