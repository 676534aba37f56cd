# CIFAR-100 pretraining: MobileNetV2 1.0x CPWC (CPWC Table 1: 75.1 top-1 in
# the paper): every 1x1 conv is CPWC, through CPWCBackbone around
# MobileNetV2CIFAR; recipe as ./mobilenet-v2_1xb128_cifar100.py.
# Detection convention it feeds: none (CIFAR-100 classification only).
_base_ = './mobilenet-v2_1xb128_cifar100.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.CPWCBackbone',
        backbone=dict(type='mmpretrain.MobileNetV2CIFAR', widen_factor=1.0),
        conversion=dict(type='CPWC', stage2=True, pwc=True),
    )
)
