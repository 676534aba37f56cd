"""CPWCBackbone and CoCBackbone: any registered backbone, converted."""

from typing import Optional

import torch.nn as nn
from mmdet.registry import MODELS

from ..conversion import build_conversion
from .converted import convert_backbone, legacy_conversion


def _build(backbone: dict, spec: dict, methods, deploy: bool) -> nn.Module:
    conversion = build_conversion(spec)
    if conversion.name not in methods:
        raise ValueError(
            f'conversion type must be one of {", ".join(methods)}, got '
            f'{conversion.name!r}'
        )
    if not isinstance(backbone, dict) or 'type' not in backbone:
        raise ValueError(
            f'backbone must be a config dict with a type, got {backbone!r}'
        )
    return convert_backbone(MODELS.build(backbone), conversion, deploy)


@MODELS.register_module()
def CPWCBackbone(
    backbone: dict,
    conversion: Optional[dict] = None,
    cpwc_cfg: Optional[dict] = None,
) -> nn.Module:
    """Build ``backbone`` and turn every dense 1x1 conv in it into CPWC.

    The result is the wrapped backbone's own class (same state-dict keys,
    same ``init_cfg``), e.g. RegNet::

        backbone=dict(type='CPWCBackbone', backbone=dict(type='RegNet', ...))

    Args:
        backbone (dict): config of any backbone in mmdet's ``MODELS`` (types
            may carry a registry scope, e.g. ``'mmpretrain.MobileNetV2'``).
        conversion (dict, optional): ``dict(type='CPWC', ...)`` (default).
        cpwc_cfg (dict, optional): deprecated spelling of ``conversion``.

    Returns:
        nn.Module: the converted backbone (CPU inference runs channels_last
        inside where every module takes that layout).
    """
    legacy = legacy_conversion(dict(type='CPWC'), cpwc_cfg=cpwc_cfg)
    spec = conversion or legacy or dict(type='CPWC')
    return _build(backbone, spec, ('CPWC',), False)


@MODELS.register_module()
def CoCBackbone(
    backbone: dict,
    conversion: Optional[dict] = None,
    deploy: bool = False,
    conv_type: Optional[str] = None,
    coc_cfg: Optional[dict] = None,
) -> nn.Module:
    """Build ``backbone`` and turn every own k>1 conv in it into CoC (the
    default), stnd or orth; 1x1 convs stay plain.

    The result is the wrapped backbone's own class (same state-dict keys as
    the class-based CoC backbones), e.g. mmpretrain's HRNet, whose tuple
    output feeds mmpretrain's ``HRFuseScales`` neck for classification::

        backbone=dict(type='mmdet.CoCBackbone',
                      backbone=dict(type='mmpretrain.HRNet', arch='w18'))

    mmpretrain's and mmdet's HRNet have the same modules and keys, so a
    checkpoint of this classifier starts ``CoCHRNet`` in a detector.

    Args:
        backbone (dict): config of any backbone.
        conversion (dict, optional): ``dict(type='CoC', ...)`` (default),
            ``dict(type='stnd')`` or ``dict(type='orth')``.
        deploy (bool): keep the plain convs (the re-parameterised form).
        conv_type, coc_cfg: deprecated spellings of ``conversion``.

    Returns:
        nn.Module: the converted backbone; re-parameterise it with
        ``cpwc_mmdet.conversion.switch_model_to_deploy``.
    """
    legacy = legacy_conversion(
        dict(type='CoC'), conv_type=conv_type, coc_cfg=coc_cfg
    )
    spec = conversion or legacy or dict(type='CoC')
    return _build(backbone, spec, ('CoC', 'stnd', 'orth'), deploy)
