"""CPWCResLayer: the C4 shared RoI head (ResNet's layer4) with CPWC."""

from mmdet.registry import MODELS

from ...backbones.converted import ConvertedBackbone
from .slim_res_layer import SlimResLayer


@MODELS.register_module()
class CPWCResLayer(ConvertedBackbone, SlimResLayer):
    """The shared-head ``ResLayer`` whose pointwise convs (conv1, conv3,
    downsample) are :class:`~cpwc_mmdet.layers.CPWConv2d`; it runs CPU
    inference channels_last inside, as the CPWC backbones do.

    Args:
        depth (int): ResNet depth the stage is taken from.
        conversion (dict, optional): ``dict(type='CPWC', stage2=True,
            pwc=True)`` (the default).
        **kwargs: any argument of :class:`SlimResLayer` (``stage``,
            ``stride``, ``dilation``, ``style``, ``base_channels``,
            ``norm_cfg``, ``norm_eval``, ``with_cp``, ``dcn``,
            ``pretrained``, ``init_cfg``).

    Input ``(num_rois, 1024, 7, 7)`` gives ``(num_rois, 2048, 7, 7)`` for
    ResNet-50's stage 3 with ``stride=1`` (the paper's Faster R-CNN).
    """

    default_conversion = dict(type='CPWC')
    methods = ('CPWC',)
