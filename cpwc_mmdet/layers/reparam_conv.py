"""What every re-parameterisable conv here shares.

A layer whose conv weight is a function of its parameters alone (CoC, stnd,
orth) defines ``deploy_weight()``; ``to_plain_conv()`` turns it into a plain
``nn.Conv2d`` with identical output and a plain conv's cost. Swapping the
layers of a whole model is ``cpwc_mmdet.conversion.reparameterize``.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def kaiming_std(fan_in: int) -> float:
    """He et al. (2015)'s weight std for ReLU networks, ``sqrt(2 / fan_in)``:
    a conv whose weight has it keeps the second moment of its activations
    (a gain of ``sqrt(2)`` on unit Gaussian inputs). The start of the
    convs whose weight is standardised (CoC, orth), whose LayerNorm gain
    is this value instead of 1."""
    return math.sqrt(2.0 / fan_in)


class ReparamConvMixin:
    """Mixin for conv layers that re-parameterise to a plain ``nn.Conv2d``.

    The layer must have nn.Conv2d's attributes (``in_channels``,
    ``out_channels``, ``kernel_size``, ``stride``, ``padding``, ``dilation``,
    ``groups``, ``bias``) and implement ``deploy_weight()``.
    """

    def deploy_weight(self) -> Tensor:
        """The conv weight ``(co, ci / groups, k, k)`` the layer computes with."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """``(N, ci, H, W) -> (N, co, H', W')``: the conv with
        :meth:`deploy_weight`."""
        return F.conv2d(
            x,
            self.deploy_weight(),
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )

    @torch.no_grad()
    def to_plain_conv(self) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` computing exactly what this layer computes."""
        weight = self.deploy_weight()
        conv = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            bias=self.bias is not None,
        ).to(weight.device, weight.dtype)
        conv.weight.copy_(weight)
        if self.bias is not None:
            conv.bias.copy_(self.bias)
        return conv
