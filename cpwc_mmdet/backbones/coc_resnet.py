"""CoCResNet: mmdet's ResNet with CoC (or stnd / orth) on every k>1 conv."""

from typing import Optional

from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS

from ..conversion import ReparamBackboneMixin
from ..utils.checks import (
    check_bool,
    check_coc_cfg,
    check_conv_type,
    check_depth,
)
from .resnet_key_names import CaffeResNetKeysMixin


@MODELS.register_module()
class CoCResNet(CaffeResNetKeysMixin, ReparamBackboneMixin, ResNet):
    """ResNet whose stem and 3x3 convs are CoC (``conv_type='coc'``), weight
    standardised (``'stnd'``) or filter-normalised (``'orth'``); 1x1 and
    downsample convs stay plain.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        conv_type (str): ``'coc'``, ``'stnd'`` or ``'orth'``.
        coc_cfg (dict, optional): CoC hyper-parameters (``sa``, ``sk_plus``,
            ``skip``, ``dilat``, ``stnd``, ``orth``) for ``conv_type='coc'``.
        deploy (bool): build the re-parameterised (plain) form.
        **kwargs: any argument of ``mmdet.models.backbones.ResNet``.

    Example:
        >>> import torch
        >>> model = CoCResNet(depth=18).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4), (1, 512, 2, 2)]
    """

    def __init__(
        self,
        depth: int,
        conv_type: str = 'coc',
        coc_cfg: Optional[dict] = None,
        deploy: bool = False,
        **kwargs,
    ) -> None:
        check_depth(depth, self.arch_settings)
        check_conv_type(conv_type)
        check_bool('deploy', deploy)
        coc_cfg = check_coc_cfg(coc_cfg)
        super().__init__(depth=depth, **kwargs)
        self._convert_convs(conv_type, coc_cfg, deploy)
        self._freeze_stages()
