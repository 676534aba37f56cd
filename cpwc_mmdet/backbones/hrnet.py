"""CPWCHRNet and CoCHRNet: mmdet's HRNet with its convs converted."""

from mmdet.models.backbones import HRNet
from mmdet.registry import MODELS

from .converted import ConvertedBackbone


@MODELS.register_module()
class CPWCHRNet(ConvertedBackbone, HRNet):
    """HRNet whose 1x1 convs (Bottleneck convs, downsample shortcuts, fuse
    layers) are :class:`~cpwc_mmdet.layers.CPWConv2d`; k>1 convs stay.

    Args:
        extra (dict): HRNet's stage description (as mmdet's HRNet).
        conversion (dict, optional): ``dict(type='CPWC', stage2=True,
            pwc=True)`` (the default).
        **kwargs: any argument of ``mmdet.models.backbones.HRNet``.
    """

    default_conversion = dict(type='CPWC')
    methods = ('CPWC',)


@MODELS.register_module()
class CoCHRNet(ConvertedBackbone, HRNet):
    """HRNet whose k>1 convs (stem, branches, fuse and transition layers)
    are CoC (the default), stnd or orth; 1x1 convs stay plain.

    Args:
        extra (dict): HRNet's stage description (as mmdet's HRNet).
        conversion (dict, optional): ``dict(type='CoC', ...)`` (the
            default), ``dict(type='stnd')`` or ``dict(type='orth')``.
        deploy (bool): build the re-parameterised (plain) form.
        **kwargs: any argument of ``mmdet.models.backbones.HRNet``.
    """

    default_conversion = dict(type='CoC')
    methods = ('CoC', 'stnd', 'orth')
