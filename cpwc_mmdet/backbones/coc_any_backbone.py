"""CoCBackbone: any registered backbone with its k>1 convs made CoC."""

from typing import Optional

import torch.nn as nn
from mmdet.registry import MODELS

from ..conversion import convert_spatial_convs
from ..utils.checks import check_coc_cfg, check_conv_type


@MODELS.register_module()
def CoCBackbone(
    backbone: dict, conv_type: str = 'coc', coc_cfg: Optional[dict] = None
) -> nn.Module:
    """Build ``backbone`` and turn every own k>1 conv in it into ``conv_type``
    (``'coc'``, ``'stnd'`` or ``'orth'``); 1x1 convs stay plain.

    The result is the wrapped backbone's own class (same state-dict keys as
    the class-based CoC backbones), e.g. mmpretrain's HRNet, whose tuple
    output feeds mmpretrain's ``HRFuseScales`` neck for classification::

        backbone=dict(type='mmdet.CoCBackbone', conv_type='coc',
                      backbone=dict(type='mmpretrain.HRNet', arch='w18'))

    mmpretrain's and mmdet's HRNet have the same modules and keys, so a
    checkpoint of this classifier starts ``CoCHRNet`` in a detector.

    Args:
        backbone (dict): config of any backbone (types may carry a registry
            scope, e.g. ``'mmpretrain.HRNet'``).
        conv_type (str): ``'coc'``, ``'stnd'`` or ``'orth'``.
        coc_cfg (dict, optional): CoC hyper-parameters for ``'coc'``.

    Returns:
        nn.Module: the converted backbone; re-parameterise it with
        ``cpwc_mmdet.conversion.switch_model_to_deploy``.
    """
    check_conv_type(conv_type)
    coc_cfg = check_coc_cfg(coc_cfg)
    if not isinstance(backbone, dict) or 'type' not in backbone:
        raise ValueError(
            f'backbone must be a config dict with a type, got {backbone!r}'
        )
    model = MODELS.build(backbone)
    convert_spatial_convs(model, conv_type, coc_cfg)
    if hasattr(model, '_freeze_stages'):
        model._freeze_stages()  # the new layers obey frozen_stages too
    return model
