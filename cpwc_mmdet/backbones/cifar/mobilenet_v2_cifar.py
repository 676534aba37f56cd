"""MobileNetV2 for CIFAR: the MobileNetV2 rows of CPWC Table 1.

mmpretrain's MobileNetV2 with the stem and the first two strided stages
(24 and 32 channels) at stride 1, so a 32x32 image keeps 32x32 up to the
64-channel stage and ends at 8x8 (total stride 4). This is the reading
that gives Table 1's 2.4M params / 0.30G multiply-adds (conv + fc).
"""

from typing import Sequence

from mmpretrain.models.backbones import MobileNetV2
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MobileNetV2CIFAR(MobileNetV2):
    """MobileNetV2 with a stride-1 stem and per-stage strides.

    Args:
        strides (Sequence[int]): stride of the first block of each of the
            seven inverted-residual stages (ImageNet: ``(1, 2, 2, 2, 1, 2,
            1)``). Defaults to ``(1, 1, 1, 2, 1, 2, 1)``.
        stem_stride (int): stride of the 3x3 stem conv (ImageNet: 2).
            Defaults to 1.
        **kwargs: any argument of mmpretrain's ``MobileNetV2``
            (``widen_factor``, ``out_indices``, ``frozen_stages``,
            ``norm_cfg``, ``norm_eval``, ``init_cfg``, ...).

    Example:
        >>> import torch
        >>> model = MobileNetV2CIFAR(out_indices=(1, 2, 3, 7))
        >>> _ = model.eval()
        >>> for out in model(torch.rand(1, 3, 32, 32)):
        ...     print(tuple(out.shape))
        (1, 24, 32, 32)
        (1, 32, 32, 32)
        (1, 64, 16, 16)
        (1, 1280, 8, 8)
    """

    def __init__(
        self,
        strides: Sequence[int] = (1, 1, 1, 2, 1, 2, 1),
        stem_stride: int = 1,
        **kwargs,
    ) -> None:
        if len(strides) != len(MobileNetV2.arch_settings):
            raise ValueError(
                f'strides must give one stride per stage '
                f'({len(MobileNetV2.arch_settings)}), got '
                f'{tuple(strides)}'
            )
        # this instance's stage table, read by MobileNetV2.__init__
        self.arch_settings = [
            [ratio, channels, blocks, stride]
            for (ratio, channels, blocks, _), stride in zip(
                MobileNetV2.arch_settings, strides
            )
        ]
        super().__init__(**kwargs)
        self.conv1.conv.stride = (stem_stride, stem_stride)
