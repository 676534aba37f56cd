from .cpwc_res_layer import CPWCResLayer
from .slim_res_layer import SlimResLayer

__all__ = ['CPWCResLayer', 'SlimResLayer']
