"""The CIFAR-100 backbones of CPWC Table 1, registered in mmpretrain's
MODELS (they subclass mmpretrain's backbones; ``cpwc_mmdet`` imports this
package only when mmpretrain, the ``pretrain`` extra, is installed)."""

from .mobilenet_v2_cifar import MobileNetV2CIFAR
from .preact_resnet_cifar import PreActResNetCIFAR
from .resnext_cifar import ResNeXtCIFAR

__all__ = ['MobileNetV2CIFAR', 'PreActResNetCIFAR', 'ResNeXtCIFAR']
