# CIFAR-100 pretraining: ResNeXt-29 8x64d CPWC (CPWC Table 1: 82.64 top-1 in
# the paper): every 1x1 conv (bottleneck conv1 / conv3, projection
# shortcuts) is CPWC, through CPWCBackbone; the recipe is the baseline's
# (./resnext29-8x64d_8xb16_cifar100.py).
# Detection convention it feeds: none (CIFAR-100 classification only).
_base_ = './resnext29-8x64d_8xb16_cifar100.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.CPWCBackbone',
        backbone=dict(
            type='mmpretrain.ResNeXtCIFAR',
            depth=29,
            groups=8,
            width_per_group=64,
        ),
        conversion=dict(type='CPWC', stage2=True, pwc=True),
    )
)
