from .coc_conv import CoCConv2d
from .cpwc_conv import CPWConv2d
from .cpwc_factory import convert_pointwise_to_cpwc
from .reparam_base import ReparamConvMixin, reparameterize
from .spatial_conv_factory import convert_spatial_convs
from .weight_norm_convs import OrthConv2d, StndConv2d

__all__ = [
    'CPWConv2d', 'CoCConv2d', 'StndConv2d', 'OrthConv2d', 'ReparamConvMixin',
    'reparameterize', 'convert_pointwise_to_cpwc', 'convert_spatial_convs'
]
