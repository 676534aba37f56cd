# CIFAR-100 pretraining: ResNet-164 CPWC (CPWC Table 1: 78.4 top-1 in the
# paper): every 1x1 conv of the pre-activation ResNet-164 (bottleneck conv1
# and conv3, projection shortcuts) is CPWC, through CPWCBackbone; the recipe
# is the baseline's (./resnet164-preact_1xb128_cifar100.py).
# Detection convention it feeds: none (CIFAR-100 classification only).
_base_ = './resnet164-preact_1xb128_cifar100.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.CPWCBackbone',
        backbone=dict(type='mmpretrain.PreActResNetCIFAR', depth=164),
        conversion=dict(type='CPWC', stage2=True, pwc=True),
    )
)
