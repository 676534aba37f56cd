"""CPWCResNet and CoCResNet: mmdet's ResNet with its convs converted."""

from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS

from ..utils.checks import check_depth
from .converted import ConvertedBackbone
from .resnet_key_names import CaffeResNetKeysMixin


class _ConvertedResNet(CaffeResNetKeysMixin, ConvertedBackbone, ResNet):
    """A converted mmdet ResNet; reads Caffe-style checkpoint keys too."""

    def __init__(self, depth: int, **kwargs) -> None:
        check_depth(depth, self.arch_settings)
        super().__init__(depth=depth, **kwargs)


@MODELS.register_module()
class CPWCResNet(_ConvertedResNet):
    """ResNet whose 1x1 convs (each block's conv1, conv3 and the downsample
    shortcut) are :class:`~cpwc_mmdet.layers.CPWConv2d`; the stem and the
    3x3 convs stay. CPU inference runs channels_last inside (outputs stay
    NCHW), where the fused context kernel applies, unless the network holds
    a module that cannot take that layout (DCN, plugins).

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        conversion (dict, optional): ``dict(type='CPWC', stage2=True,
            pwc=True)`` (the default), the arguments of ``CPWConv2d``.
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

    default_conversion = dict(type='CPWC')
    methods = ('CPWC',)


@MODELS.register_module()
class CoCResNet(_ConvertedResNet):
    """ResNet whose stem and 3x3 convs are CoC (the default), weight
    standardised (``dict(type='stnd')``) or filter-normalised
    (``dict(type='orth')``); 1x1 and downsample convs stay plain.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        conversion (dict, optional): ``dict(type='CoC', sa=2, sk_plus=2,
            skip=True, dilat=True, stnd=True, orth=True)`` (the default),
            ``dict(type='stnd')`` or ``dict(type='orth')``.
        deploy (bool): build the re-parameterised (plain) form.
        **kwargs: any argument of ``mmdet.models.backbones.ResNet``.

    Example:
        >>> import torch
        >>> model = CoCResNet(depth=18).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4), (1, 512, 2, 2)]
    """

    default_conversion = dict(type='CoC')
    methods = ('CoC', 'stnd', 'orth')
