"""CPWCResNet: mmdet's ResNet with every pointwise conv made contextual."""

from typing import Optional

from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS

from ..conversion import convert_pointwise_to_cpwc
from ..ops.channels_last import channels_last_inference
from ..utils.checks import check_depth, parse_cpwc_cfg
from .resnet_key_names import CaffeResNetKeysMixin


@MODELS.register_module()
class CPWCResNet(CaffeResNetKeysMixin, ResNet):
    """ResNet whose 1x1 convs (each block's conv1, conv3 and the downsample
    shortcut) are :class:`CPWConv2d`. The stem and the 3x3 convs stay.

    mmdet's own ``Bottleneck`` is built and its 1x1 convs swapped, so every
    ``ResNet`` argument (``zero_init_residual`` included) works as in mmdet.
    CPU inference runs channels_last inside (outputs stay NCHW), where the
    fused context kernel applies (``channels_last_inference``), unless the
    network holds a module that cannot take that layout (DCN, plugins).

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        cpwc_cfg (dict, optional): ``dict(stage2=True, pwc=True)``, the
            arguments of :class:`CPWConv2d`.
        **kwargs: any argument of ``mmdet.models.backbones.ResNet``.

    Example:
        >>> import torch
        >>> model = CPWCResNet(depth=50, out_indices=(0, 1, 2, 3)).eval()
        >>> for out in model(torch.rand(1, 3, 64, 64)):
        ...     print(tuple(out.shape))
        (1, 256, 16, 16)
        (1, 512, 8, 8)
        (1, 1024, 4, 4)
        (1, 2048, 2, 2)
    """

    def __init__(
        self, depth: int, cpwc_cfg: Optional[dict] = None, **kwargs
    ) -> None:
        check_depth(depth, self.arch_settings)
        self.cpwc_cfg = parse_cpwc_cfg(cpwc_cfg)
        super().__init__(depth=depth, **kwargs)
        channels_last_inference(self)

    def make_res_layer(self, **kwargs):
        """mmdet's ResLayer with its pointwise convs made contextual."""
        res_layer = super().make_res_layer(**kwargs)
        convert_pointwise_to_cpwc(res_layer, self.cpwc_cfg)
        return res_layer
