"""Pre-activation ResNet for CIFAR: ResNet-164 / ResNet-200 of CPWC Table 1.

He et al., "Identity Mappings in Deep Residual Networks" (2016): a 3x3 stem
(16 channels, no norm), three stages of pre-activation bottlenecks
(BN-ReLU-conv), 16 / 32 / 64 middle channels x4 expansion, and a final
BN-ReLU before pooling. Depth 9n + 2 gives n blocks per stage (164: 18,
200: 22).
"""

from typing import Optional, Sequence

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm


class PreActBottleneck(BaseModule):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3 (with the stride), BN-ReLU-conv1x1,
    added to the input, or, when the shape changes, to a strided 1x1
    projection of the pre-activated input (no norm on the shortcut).

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels, ``expansion`` x the middle ones.
        stride (int): stride of the 3x3 conv and the projection.
            Defaults to 1.
        expansion (int): ``out_channels / mid_channels``. Defaults to 4.
        conv_cfg (dict, optional): conv config. Defaults to None (Conv2d).
        norm_cfg (dict): norm config. Defaults to ``dict(type='BN')``.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        expansion: int = 4,
        conv_cfg: Optional[dict] = None,
        norm_cfg: dict = dict(type='BN'),
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg)
        mid_channels = out_channels // expansion
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, in_channels, 1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, mid_channels, 2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, mid_channels, 3)
        self.add_module(self.norm1_name, norm1)
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, mid_channels, 1, bias=False
        )
        self.add_module(self.norm2_name, norm2)
        self.conv2 = build_conv_layer(
            conv_cfg,
            mid_channels,
            mid_channels,
            3,
            stride=stride,
            padding=1,
            bias=False,
        )
        self.add_module(self.norm3_name, norm3)
        self.conv3 = build_conv_layer(
            conv_cfg, mid_channels, out_channels, 1, bias=False
        )
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = build_conv_layer(
                conv_cfg,
                in_channels,
                out_channels,
                1,
                stride=stride,
                bias=False,
            )

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, in_channels, H, W) -> (N, out_channels, H / s, W / s)``."""
        act = self.relu(self.norm1(x))
        shortcut = x if self.downsample is None else self.downsample(act)
        out = self.conv1(act)
        out = self.conv2(self.relu(self.norm2(out)))
        out = self.conv3(self.relu(self.norm3(out)))
        return out + shortcut


@MODELS.register_module()
class PreActResNetCIFAR(BaseBackbone):
    """Pre-activation bottleneck ResNet for 32x32 inputs (mmpretrain).

    Args:
        depth (int): 9n + 2 (n blocks per stage), e.g. 164 or 200.
        in_channels (int): input image channels. Defaults to 3.
        base_channels (int): stem output and first stage's middle channels;
            stage i has ``base_channels * 2**i`` middle channels.
            Defaults to 16.
        expansion (int): bottleneck expansion. Defaults to 4.
        strides (Sequence[int]): stride of each stage's first block; its
            length is the number of stages. Defaults to ``(1, 2, 2)``.
        out_indices (Sequence[int]): stages whose output is returned. The
            last stage's output has the final BN-ReLU applied; earlier ones
            are the raw residual sums. Defaults to ``(2, )``.
        frozen_stages (int): freeze the stem and this many stages (the
            final norm counts with the last stage); -1 freezes nothing.
            Defaults to -1.
        conv_cfg (dict, optional): conv config. Defaults to None (Conv2d).
        norm_cfg (dict): norm config. Defaults to ``dict(type='BN')``.
        norm_eval (bool): keep norm layers in eval mode while training.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Kaiming convs, unit norms.

    Example:
        >>> import torch
        >>> model = PreActResNetCIFAR(depth=164, out_indices=(0, 1, 2))
        >>> _ = model.eval()
        >>> for out in model(torch.rand(1, 3, 32, 32)):
        ...     print(tuple(out.shape))
        (1, 64, 32, 32)
        (1, 128, 16, 16)
        (1, 256, 8, 8)
    """

    def __init__(
        self,
        depth: int,
        in_channels: int = 3,
        base_channels: int = 16,
        expansion: int = 4,
        strides: Sequence[int] = (1, 2, 2),
        out_indices: Sequence[int] = (2,),
        frozen_stages: int = -1,
        conv_cfg: Optional[dict] = None,
        norm_cfg: dict = dict(type='BN', requires_grad=True),
        norm_eval: bool = False,
        init_cfg=[
            dict(type='Kaiming', layer=['Conv2d']),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
        ],
    ) -> None:
        super().__init__(init_cfg)
        if depth < 11 or (depth - 2) % 9:
            raise ValueError(
                f'depth must be 9n + 2 with n >= 1 (164, 200, '
                f'...), got {depth}'
            )
        num_stages = len(strides)
        if not all(0 <= i < num_stages for i in out_indices):
            raise ValueError(
                f'out_indices must lie in [0, {num_stages}), '
                f'got {tuple(out_indices)}'
            )
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(
                f'frozen_stages must lie in [-1, {num_stages}]'
                f', got {frozen_stages}'
            )
        self.depth = depth
        self.num_blocks = (depth - 2) // 9
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, base_channels, 3, padding=1, bias=False
        )
        self.res_layers = []
        channels = base_channels
        for i, stride in enumerate(strides):
            out_channels = base_channels * 2**i * expansion
            blocks = [
                PreActBottleneck(
                    channels if j == 0 else out_channels,
                    out_channels,
                    stride if j == 0 else 1,
                    expansion,
                    conv_cfg,
                    norm_cfg,
                )
                for j in range(self.num_blocks)
            ]
            channels = out_channels
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
            self.res_layers.append(f'layer{i + 1}')
        self.final_norm_name, final_norm = build_norm_layer(
            norm_cfg, channels, postfix='_final'
        )
        self.add_module(self.final_norm_name, final_norm)
        self.relu = nn.ReLU(inplace=True)
        self.feat_dim = channels
        self._freeze_stages()

    @property
    def final_norm(self) -> nn.Module:
        return getattr(self, self.final_norm_name)

    def forward(self, x: Tensor) -> tuple:
        """``(N, 3, H, W)`` -> one tensor per ``out_indices``; stage i is
        ``(N, base_channels * 2**i * expansion, H / s_i, W / s_i)``."""
        x = self.conv1(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i == len(self.res_layers) - 1:
                x = self.relu(self.final_norm(x))
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        frozen = [self.conv1] if self.frozen_stages >= 0 else []
        frozen += [
            getattr(self, name)
            for name in self.res_layers[: max(self.frozen_stages, 0)]
        ]
        if self.frozen_stages == len(self.res_layers):
            frozen.append(self.final_norm)
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        """Train mode, keeping frozen stages (and, with ``norm_eval``,
        every norm layer) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
