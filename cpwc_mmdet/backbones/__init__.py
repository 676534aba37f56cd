from .coc_hrnet import CoCHRNet
from .coc_resnet import CoCResNet
from .cpwc_any_backbone import CPWCBackbone
from .cpwc_res_layer import CPWCResLayer
from .cpwc_resnet import CPWCResNet
from .slim_res_layer import SlimResLayer

__all__ = [
    'CPWCResNet', 'CPWCResLayer', 'CPWCBackbone', 'CoCResNet', 'CoCHRNet',
    'SlimResLayer'
]
