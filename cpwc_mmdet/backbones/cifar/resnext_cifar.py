"""ResNeXt-29 for CIFAR: the 8x64d / 16x64d models of CPWC Table 1.

Xie et al., "Aggregated Residual Transformations" (2017), Sec. 5.3: a 3x3
stem (64 channels, stride 1, no max-pool), three stages of three ResNeXt
bottlenecks with 256 / 512 / 1024 output channels, grouped 3x3 convs of
``groups x width_per_group`` (x2 per stage) channels, projection shortcuts
(1x1 conv + BN) where the shape changes.
"""

from typing import Sequence

from mmpretrain.models.backbones import ResNet_CIFAR, ResNeXt
from mmpretrain.models.backbones.resnext import Bottleneck
from mmpretrain.registry import MODELS


@MODELS.register_module()
class ResNeXtCIFAR(ResNet_CIFAR, ResNeXt):
    """mmpretrain's ResNeXt with ResNet_CIFAR's stem, three stages.

    The method resolution order gives ResNet_CIFAR's stem (3x3, stride 1, no
    max-pool) and forward, and ResNeXt's grouped bottlenecks; stage i has
    ``groups * width_per_group * 2**i`` middle channels and
    ``base_channels * 4 * 2**i`` output channels.

    Args:
        depth (int): 29 (3 blocks per stage).
        groups (int): cardinality. Defaults to 8.
        width_per_group (int): channels per group in the first stage.
            Defaults to 64.
        num_stages (int): Defaults to 3.
        strides (Sequence[int]): Defaults to ``(1, 2, 2)``.
        dilations (Sequence[int]): Defaults to ``(1, 1, 1)``.
        out_indices (Sequence[int]): Defaults to ``(2, )``.
        **kwargs: any other argument of mmpretrain's ``ResNet``
            (``frozen_stages``, ``norm_cfg``, ``norm_eval``, ``init_cfg``,
            ...).

    Example:
        >>> import torch
        >>> model = ResNeXtCIFAR(depth=29, out_indices=(0, 1, 2))
        >>> _ = model.eval()
        >>> for out in model(torch.rand(1, 3, 32, 32)):
        ...     print(tuple(out.shape))
        (1, 256, 32, 32)
        (1, 512, 16, 16)
        (1, 1024, 8, 8)
    """

    arch_settings = {29: (Bottleneck, (3, 3, 3))}

    def __init__(
        self,
        depth: int = 29,
        groups: int = 8,
        width_per_group: int = 64,
        num_stages: int = 3,
        strides: Sequence[int] = (1, 2, 2),
        dilations: Sequence[int] = (1, 1, 1),
        out_indices: Sequence[int] = (2,),
        **kwargs,
    ) -> None:
        super().__init__(
            depth=depth,
            groups=groups,
            width_per_group=width_per_group,
            num_stages=num_stages,
            strides=strides,
            dilations=dilations,
            out_indices=out_indices,
            **kwargs,
        )
