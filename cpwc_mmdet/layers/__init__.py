from .coc_conv import CoCConv2d
from .cpwc_conv import CPWConv2d
from .reparam_conv import ReparamConvMixin
from .weight_norm_convs import OrthConv2d, StndConv2d

__all__ = [
    'CPWConv2d',
    'CoCConv2d',
    'StndConv2d',
    'OrthConv2d',
    'ReparamConvMixin',
]
