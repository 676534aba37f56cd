"""Register conv layers where every builder looks for them."""

from mmdet.registry import MODELS
from mmengine.registry import MODELS as MMENGINE_MODELS


def register_conv_layer(cls):
    """Register ``cls`` in mmdet's MODELS (configs) and in mmengine's root
    MODELS, where mmcv's ``build_conv_layer`` looks when no default scope is
    set (as mmcv registers its own conv layers)."""
    MODELS.register_module(module=cls)
    MMENGINE_MODELS.register_module(module=cls)
    return cls
