"""Conversion: the spec of a method (``specs``) and the model surgery that
applies it, re-parameterises it and deploys it (``surgery``)."""

from .specs import (
    CONVERSIONS,
    CONVERTED_LAYERS,
    Conversion,
    CPWCConversion,
    SpatialConversion,
    build_conversion,
    is_pointwise,
    is_spatial,
)
from .surgery import (
    DEFORMABLE_CONVS,
    attached_children,
    convert,
    converted_module_names,
    iter_attached_modules,
    own_modules,
    reparameterize,
    replace_convs,
    switch_model_to_deploy,
)

__all__ = [
    'CONVERSIONS',
    'Conversion',
    'CPWCConversion',
    'SpatialConversion',
    'build_conversion',
    'is_pointwise',
    'is_spatial',
    'CONVERTED_LAYERS',
    'DEFORMABLE_CONVS',
    'attached_children',
    'convert',
    'converted_module_names',
    'iter_attached_modules',
    'own_modules',
    'replace_convs',
    'reparameterize',
    'switch_model_to_deploy',
]
