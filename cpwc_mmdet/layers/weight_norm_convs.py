"""The poster's comparison rows as layers: ``stnd`` and ``orth`` convs.

Both compute a plain convolution with a weight derived from parameters only,
so both re-parameterise to ``nn.Conv2d``.
"""

import torch.nn as nn
from mmcv.cnn import ConvWS2d
from torch import Tensor

from .registry import register_conv_layer
from .reparam_conv import ReparamConvMixin, kaiming_std


@register_conv_layer
class StndConv2d(ReparamConvMixin, ConvWS2d):
    """The ``-stnd`` row: mmcv's weight-standardised conv, re-parameterisable.

    Each output filter's weight is standardised over ``(ci, k, k)``:
    ``(w - mean) / (std + eps)`` (mmcv's ``conv_ws_2d``). Same arguments as
    ``mmcv.cnn.ConvWS2d``.
    """

    def deploy_weight(self) -> Tensor:
        """The standardised weight ``(co, ci / groups, k, k)``."""
        flat = self.weight.flatten(1)
        mean = flat.mean(dim=1).view(-1, 1, 1, 1)
        std = flat.std(dim=1).view(-1, 1, 1, 1)
        return (self.weight - mean) / (std + self.eps)


@register_conv_layer
class OrthConv2d(ReparamConvMixin, nn.Conv2d):
    """The ``-orth`` row: a conv whose weight passes a per-filter LayerNorm.

    ``weight_used = LayerNorm_{(ci, k, k)}(weight)`` with a learnable
    elementwise scale and shift: weight standardisation with affine (CoC's
    step 5 on its own). Same arguments as ``nn.Conv2d``. The scale starts
    at :func:`~.reparam_conv.kaiming_std` of the fan-in, not 1, so the
    layer starts with a Kaiming conv's gain, not ``sqrt(fan_in)``.

    Attributes:
        weight_norm (nn.LayerNorm): normalises each ``(ci / groups, k, k)``
            filter.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
        )
        self.weight_norm = nn.LayerNorm(list(self.weight.shape[1:]))
        nn.init.constant_(
            self.weight_norm.weight, kaiming_std(self.weight[0].numel())
        )

    def deploy_weight(self) -> Tensor:
        """The normalised weight ``(co, ci / groups, k, k)``."""
        return self.weight_norm(self.weight)
