"""Converted backbones (one mixin, ``converted.py``), the CPWC layout
policy (``channels_last.py``), Caffe-style ResNet keys, and, with the
``pretrain`` extra (mmpretrain), the CIFAR backbones of CPWC Table 1."""

import importlib.util

from .any_backbone import CoCBackbone, CPWCBackbone
from .converted import ConvertedBackbone, convert_backbone
from .hrnet import CoCHRNet, CPWCHRNet
from .resnet import CoCResNet, CPWCResNet

if importlib.util.find_spec('mmpretrain') is not None:
    from . import cifar  # noqa: F401  (registers into mmpretrain's MODELS)

__all__ = [
    'ConvertedBackbone',
    'convert_backbone',
    'CPWCResNet',
    'CoCResNet',
    'CPWCHRNet',
    'CoCHRNet',
    'CPWCBackbone',
    'CoCBackbone',
]
