# CIFAR-100 pretraining: MobileNetV2 1.0x baseline (CPWC Table 1: 74.1 top-1
# in the paper): mmpretrain's MobileNetV2 with a stride-1 stem and stride-1
# first two strided stages (MobileNetV2CIFAR: 32x32 in, 8x8 last map).
# Recipe: "the ResNet-164 settings" (./resnet164-preact_1xb128_cifar100.py:
# SGD lr 0.1, momentum 0.9, wd 5e-4, batch 128, 250 epochs, lr / 5 every 50).
# Detection convention it feeds: none (CIFAR-100 classification only).
_base_ = './resnet164-preact_1xb128_cifar100.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.MobileNetV2CIFAR',
        widen_factor=1.0,
    ),
    head=dict(in_channels=1280),
)
