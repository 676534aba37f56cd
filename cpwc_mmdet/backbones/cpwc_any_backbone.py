"""CPWCBackbone: any registered backbone with its 1x1 convs made CPWC."""

from typing import Optional

import torch.nn as nn
from mmdet.registry import MODELS

from ..conversion import convert_pointwise_to_cpwc
from ..ops.channels_last import channels_last_inference
from ..utils.checks import parse_cpwc_cfg


@MODELS.register_module()
def CPWCBackbone(backbone: dict, cpwc_cfg: Optional[dict] = None) -> nn.Module:
    """Build ``backbone`` and turn every dense 1x1 conv in it into CPWC.

    The result is the wrapped backbone's own class (same state-dict keys,
    same ``init_cfg``), e.g. for HRNet::

        backbone=dict(type='CPWCBackbone', backbone=dict(type='HRNet', ...))

    Args:
        backbone (dict): config of any backbone in mmdet's ``MODELS``.
        cpwc_cfg (dict, optional): arguments of :class:`CPWConv2d`.

    Returns:
        nn.Module: the converted backbone (CPU inference runs channels_last
        inside where every module takes that layout, see
        ``channels_last_inference``).
    """
    cpwc_cfg = parse_cpwc_cfg(cpwc_cfg)
    if not isinstance(backbone, dict) or 'type' not in backbone:
        raise ValueError(
            f'backbone must be a config dict with a type, got {backbone!r}'
        )
    model = MODELS.build(backbone)
    convert_pointwise_to_cpwc(model, cpwc_cfg)
    if hasattr(model, '_freeze_stages'):
        model._freeze_stages()  # the new layers obey frozen_stages too
    return channels_last_inference(model)
