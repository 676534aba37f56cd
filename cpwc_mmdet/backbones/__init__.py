from .coc_any_backbone import CoCBackbone
from .coc_hrnet import CoCHRNet
from .coc_resnet import CoCResNet
from .cpwc_any_backbone import CPWCBackbone
from .cpwc_resnet import CPWCResNet
from .mobilenet_v2_cifar import MobileNetV2CIFAR
from .preact_resnet_cifar import PreActResNetCIFAR
from .resnext_cifar import ResNeXtCIFAR

__all__ = [
    'CPWCResNet',
    'CPWCBackbone',
    'CoCResNet',
    'CoCHRNet',
    'CoCBackbone',
    'MobileNetV2CIFAR',
    'PreActResNetCIFAR',
    'ResNeXtCIFAR',
]
