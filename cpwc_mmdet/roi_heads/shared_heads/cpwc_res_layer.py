"""CPWCResLayer: the C4 shared RoI head (ResNet's layer4) with CPWC."""

from typing import Optional

from mmdet.registry import MODELS

from ...conversion import convert_pointwise_to_cpwc
from ...ops.channels_last import channels_last_inference
from ...utils.checks import parse_cpwc_cfg
from .slim_res_layer import SlimResLayer


@MODELS.register_module()
class CPWCResLayer(SlimResLayer):
    """The shared-head ``ResLayer`` whose pointwise convs (conv1, conv3,
    downsample) are :class:`CPWConv2d`.

    Args:
        depth (int): ResNet depth the stage is taken from.
        cpwc_cfg (dict, optional): arguments of :class:`CPWConv2d`.
        **kwargs: any argument of :class:`SlimResLayer` (``stage``,
            ``stride``, ``dilation``, ``style``, ``base_channels``,
            ``norm_cfg``, ``norm_eval``, ``with_cp``, ``dcn``,
            ``pretrained``, ``init_cfg``).

    Input ``(num_rois, 1024, 7, 7)`` gives ``(num_rois, 2048, 7, 7)`` for
    ResNet-50's stage 3 with ``stride=1`` (the paper's Faster R-CNN).
    """

    def __init__(
        self, depth: int, cpwc_cfg: Optional[dict] = None, **kwargs
    ) -> None:
        cpwc_cfg = parse_cpwc_cfg(cpwc_cfg)
        super().__init__(depth=depth, **kwargs)
        convert_pointwise_to_cpwc(self, cpwc_cfg)
        channels_last_inference(self)
