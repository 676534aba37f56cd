"""CoCConv2d: convolution of convolution (Zhao, Li, Wu; CVPR 2022).

The conv weight is derived, every forward, from a learnable "image" of tiled
kernels convolved by depthwise super kernels (``shared/spec/COC.md``). The
derivation uses parameters only, so ``to_plain_conv()`` (and, for a whole
model, ``cpwc_mmdet.conversion.reparameterize``) freezes it into a plain
``nn.Conv2d``.
"""

import math
import warnings
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..ops.coc_layout import kernels_to_image, padded_out_channels
from ..ops.coc_weight import coc_weight, coc_weight_torch
from ..utils.checks import check_bool, check_positive_int, to_square
from .orth_inflation import fit_shared_affine
from .registry import register_conv_layer
from .reparam_conv import ReparamConvMixin, kaiming_std

#: (k, sk_plus) -> (super kernel size, dilation) when ``dilat=True``.
DILATED_SUPER_KERNELS = {
    (3, 0): (3, 1),
    (3, 2): (3, 2),
    (3, 4): (3, 3),
    (3, 6): (5, 2),
    (5, 0): (3, 3),
    (5, 2): (5, 2),
    (5, 4): (5, 3),
    (5, 6): (5, 4),
    (7, 0): (5, 2),
    (7, 2): (5, 3),
    (7, 4): (5, 4),
    (7, 6): (7, 3),
}

STANDARDISE_EPS = 1e-5


def super_kernel_shape(
    kernel_size: int, sk_plus: int, dilat: bool
) -> Tuple[int, int]:
    """(size, dilation) of the super kernel reaching ``kernel_size + sk_plus``.

    Raises:
        ValueError: naming ``sk_plus`` if the pair is outside the table.
    """
    if (
        not isinstance(sk_plus, int)
        or isinstance(sk_plus, bool)
        or sk_plus < 0
        or sk_plus % 2
    ):
        raise ValueError(f'sk_plus must be an even int >= 0, got {sk_plus!r}')
    if not dilat:
        return kernel_size + sk_plus, 1
    if (kernel_size, sk_plus) not in DILATED_SUPER_KERNELS:
        pairs = sorted(DILATED_SUPER_KERNELS)
        raise ValueError(
            f'sk_plus={sk_plus} with kernel_size={kernel_size} '
            f'is outside the dilated super-kernel table {pairs}'
        )
    return DILATED_SUPER_KERNELS[(kernel_size, sk_plus)]


def standardise(kernel: Tensor) -> Tensor:
    """Standardise each super kernel ``(g, 1, s, s)`` over its ``s*s`` taps."""
    flat = kernel.flatten(1)
    mean = flat.mean(dim=1).view(-1, 1, 1, 1)
    std = flat.std(dim=1).view(-1, 1, 1, 1)
    return (kernel - mean) / (std + STANDARDISE_EPS)


@register_conv_layer
class CoCConv2d(ReparamConvMixin, nn.Module):
    """A conv whose kernels collaborate spatially through a super conv.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation,
        groups, bias: as ``nn.Conv2d`` (square kernels, ``kernel_size > 1``).
        sa (int): kernels tiled ``sa x sa`` per group. Defaults to 2.
        sk_plus (int): the super kernel's extra reach (even). Defaults to 2.
        skip (bool): add the image back after the super conv. Defaults to True.
        dilat (bool): dilated, smaller super kernel (table in the spec).
        stnd (bool): standardise the super kernel. Defaults to True.
        orth (bool): per-filter LayerNorm on the final weight. Defaults True.

    Attributes:
        weight_image (Parameter):
            ``(ci / groups, co_pad / sa**2, sa*k, sa*k)``.
        super_kernel (Parameter): ``(co_pad / sa**2, 1, size, size)``.
        super_norm (nn.LayerNorm): over ``(co_pad / sa**2, sa*k, sa*k)``.
        weight_norm (nn.LayerNorm | None): over ``(ci / groups, k, k)``.
        inflated_from_plain (bool): a plain conv's weight was loaded into
            the orth form (approximately, see ``_load_from_state_dict``).

    Example:
        >>> conv = CoCConv2d(16, 18, 3, padding=1)
        >>> x = torch.rand(2, 16, 8, 8)
        >>> plain = conv.to_plain_conv()  # an nn.Conv2d
        >>> torch.testing.assert_close(plain(x), conv(x), atol=1e-5, rtol=0)
        >>> sorted(n for n, _ in plain.named_parameters())
        ['bias', 'weight']
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        sa: int = 2,
        sk_plus: int = 2,
        skip: bool = True,
        dilat: bool = True,
        stnd: bool = True,
        orth: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int('in_channels', in_channels)
        self.out_channels = check_positive_int('out_channels', out_channels)
        k = to_square('kernel_size', kernel_size)
        if k == 1:
            raise ValueError(
                'kernel_size must be > 1 for CoCConv2d (c1x1=False:'
                ' keep 1x1 convs as plain nn.Conv2d)'
            )
        self.groups = check_positive_int('groups', groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f'groups={groups} must divide in_channels='
                f'{in_channels} and out_channels={out_channels}'
            )
        if isinstance(sa, bool) or not isinstance(sa, int) or sa < 2:
            raise ValueError(f'sa must be an int >= 2, got {sa!r}')
        self.kernel_size = (k, k)
        self.stride = (to_square('stride', stride),) * 2
        self.dilation = (to_square('dilation', dilation),) * 2
        pad = padding[0] if isinstance(padding, (tuple, list)) else padding
        if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
            raise ValueError(f'padding must be an int >= 0, got {padding!r}')
        self.padding = (pad, pad)
        self.sa = sa
        self.sk_plus = sk_plus
        self.skip = check_bool('skip', skip)
        self.dilat = check_bool('dilat', dilat)
        self.stnd = check_bool('stnd', stnd)
        self.orth = check_bool('orth', orth)
        self.super_size, self.super_dilation = super_kernel_shape(
            k, sk_plus, dilat
        )
        check_bool('bias', bias)

        ci = in_channels // groups
        num_groups = padded_out_channels(out_channels, sa) // sa**2
        # channels_last: each input channel's groups contiguous per pixel,
        # as the CPU kernel reads them (see ``_apply``)
        self.weight_image = nn.Parameter(
            torch.empty(ci, num_groups, sa * k, sa * k).contiguous(
                memory_format=torch.channels_last
            )
        )
        self.super_kernel = nn.Parameter(
            torch.empty(num_groups, 1, self.super_size, self.super_size)
        )
        self.super_norm = nn.LayerNorm([num_groups, sa * k, sa * k])
        self.weight_norm = nn.LayerNorm([ci, k, k]) if orth else None
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        #: set when a plain conv's weight was loaded into the orth form
        self.inflated_from_plain = False
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Start the derived weight at He et al.'s variance, ``2 / fan_in``.

        The image holds the kernels Kaiming-uniform as ``nn.Conv2d`` inits
        them (tiled; padded kernels start at zero), the super kernel is
        Kaiming-uniform, and the LayerNorms start at the release's 1 / 0.
        The derived weight is then standardised (``orth``: every filter has
        unit variance over ``(ci, k, k)``), a gain of ``sqrt(fan_in)``
        (48 for a 3x3 conv of 256 channels) where a Kaiming conv has
        ``sqrt(2)``; so the last gain is set to give the weight He's
        standard deviation :func:`kaiming_std` (:meth:`scale_to_kaiming`).
        The function of the parameters is the release's; only the starting
        values of one LayerNorm gain differ from its init.
        """
        k = self.kernel_size[0]
        ci = self.in_channels // self.groups
        kernels = torch.empty(self.out_channels, ci, k, k)
        nn.init.kaiming_uniform_(kernels, a=math.sqrt(5))
        with torch.no_grad():
            self.weight_image.copy_(kernels_to_image(kernels, self.sa))
        nn.init.kaiming_uniform_(self.super_kernel, a=math.sqrt(5))
        self.super_norm.reset_parameters()
        if self.weight_norm is not None:
            self.weight_norm.reset_parameters()
        if self.bias is not None:
            bound = 1 / math.sqrt(ci * k * k)
            nn.init.uniform_(self.bias, -bound, bound)
        self.scale_to_kaiming()

    @torch.no_grad()
    def scale_to_kaiming(self) -> None:
        """Set the last gain so that the derived weight's root mean square
        is :func:`kaiming_std` of the layer's fan-in.

        With ``orth`` every filter leaves its LayerNorm with unit variance,
        so that LayerNorm's gain is the target. Without it the weight is
        ``image + g * n`` (``skip``; ``n`` the super conv's normalised
        output, ``g`` its LayerNorm gain, the shift zero), and ``g`` is the
        positive root of ``mean((image + g * n) ** 2) = target ** 2``.
        """
        k = self.kernel_size[0]
        target = kaiming_std(self.in_channels // self.groups * k * k)
        if self.weight_norm is not None:
            self.weight_norm.weight.fill_(target)
            return
        gain = self.super_norm.weight
        gain.fill_(0)  # PyTorch ops: initialisation runs no kernel
        image = coc_weight_torch(*self._derivation_args())  # 0 w/o skip
        gain.fill_(1)
        normed = coc_weight_torch(*self._derivation_args()) - image
        a = normed.square().mean()
        b = 2 * (image * normed).mean()
        c = image.square().mean() - target**2
        gain.fill_(float((-b + (b * b - 4 * a * c).sqrt()) / (2 * a)))

    def effective_super_kernel(self) -> Tensor:
        """The super kernel as the super conv uses it,
        ``(co_pad / sa**2, 1, size, size)``: standardised with ``stnd``."""
        return (
            standardise(self.super_kernel) if self.stnd else self.super_kernel
        )

    def deploy_weight(self, channels_last: bool = False) -> Tensor:
        """Steps 1-5: the conv weight ``(co, ci / groups, k, k)``, in the
        memory format asked for (``cpwc_mmdet.ops.coc_weight``: the fused
        CPU kernel, or PyTorch ops)."""
        return coc_weight(*self._derivation_args(), channels_last)

    def _derivation_args(self) -> tuple:
        """The arguments of ``coc_weight`` but the memory format."""
        norm = self.super_norm
        orth = self.weight_norm
        return (
            self.weight_image,
            self.effective_super_kernel(),
            (norm.weight, norm.bias, norm.eps),
            None if orth is None else (orth.weight, orth.bias, orth.eps),
            self.sa,
            self.out_channels,
            self.super_dilation,
            self.skip,
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(N, ci, H, W) -> (N, co, H', W')``, the weight derived in x's
        memory format."""
        weight = self.deploy_weight(
            x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous()
        )
        return F.conv2d(
            x,
            weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )

    def _apply(self, fn, *args, **kwargs):
        """As ``nn.Module._apply`` (``.to()``, ``.cuda()``, ...), but the
        image keeps its channels_last layout, the one the CPU kernel reads
        (``model.to(memory_format=...)`` would change it)."""
        module = super()._apply(fn, *args, **kwargs)
        image = self.weight_image
        if not image.is_contiguous(memory_format=torch.channels_last):
            image.data = image.data.contiguous(
                memory_format=torch.channels_last
            )
        return module

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Also load a plain conv's ``weight`` into the training form
        ("inflation"): the kernels are tiled into ``weight_image`` and the
        super conv's LayerNorm gain and shift start at zero, so the super
        conv contributes nothing at step 0.

        With ``orth=False`` the layer then computes exactly the plain conv.
        With ``orth=True`` each kernel is standardised per filter, which
        erases each filter's own scale and mean; the orth LayerNorm's shared
        affine starts at the least-squares fit (:func:`fit_shared_affine`:
        exact only if all filters share one scale and mean). The BN
        statistics after the layer then no longer fit, so the layer is
        marked ``inflated_from_plain`` (a warning says so) for
        :class:`~cpwc_mmdet.engine.NormRecalibrationHook`, which tools/
        train.py runs before the first iteration.
        """
        key = prefix + 'weight'
        if prefix + 'weight_image' in state_dict:
            self.inflated_from_plain = False  # a CoC checkpoint
        elif key in state_dict:
            weight = state_dict.pop(key)
            state_dict[prefix + 'weight_image'] = kernels_to_image(
                weight, self.sa
            )
            state_dict.setdefault(prefix + 'super_kernel', self.super_kernel)
            for name in ('super_norm.weight', 'super_norm.bias'):
                state_dict[prefix + name] = torch.zeros_like(
                    self.get_parameter(name)
                )
            if self.weight_norm is not None:
                self._inflate_orth(weight, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _inflate_orth(
        self, weight: Tensor, state_dict: dict, prefix: str
    ) -> None:
        """The orth LayerNorm's affine for a plain ``weight``, and the
        warning that the layer is no longer the plain conv."""
        if tuple(weight.shape[1:]) != tuple(self.weight_norm.weight.shape):
            for name, param in self.weight_norm.named_parameters():
                state_dict.setdefault(f'{prefix}weight_norm.{name}', param)
            return  # the loader reports weight_image's shape
        gamma, beta = fit_shared_affine(weight, self.weight_norm.eps)
        state_dict.setdefault(f'{prefix}weight_norm.weight', gamma)
        state_dict.setdefault(f'{prefix}weight_norm.bias', beta)
        self.inflated_from_plain = True
        warnings.warn(
            'CoCConv2d(orth=True) inflated from a plain conv is not the '
            "plain conv (its per-filter LayerNorm erases each filter's "
            'scale and mean), so the BN statistics after it no longer fit: '
            'tools/train.py recalibrates them (NormRecalibrationHook); with '
            'another runner add custom_hooks=[dict(type='
            "'NormRecalibrationHook')], or use coc_cfg=dict(orth=False) "
            '(exact)',
            stacklevel=2,
        )

    def extra_repr(self) -> str:
        return (
            f'{self.in_channels}, {self.out_channels}, '
            f'kernel_size={self.kernel_size}, stride={self.stride}, '
            f'padding={self.padding}, dilation={self.dilation}, '
            f'groups={self.groups}, bias={self.bias is not None}, '
            f'sa={self.sa}, sk_plus={self.sk_plus}, skip={self.skip}, '
            f'dilat={self.dilat}, stnd={self.stnd}, orth={self.orth}'
        )
