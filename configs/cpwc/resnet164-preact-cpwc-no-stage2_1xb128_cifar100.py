# CIFAR-100 pretraining: ResNet-164 CPWC without stage 2 (CPWC Table 1:
# 77.7 top-1 in the paper); recipe as ./resnet164-preact_1xb128_cifar100.py.
# Detection convention it feeds: none (CIFAR-100 classification only).
_base_ = './resnet164-preact-cpwc_1xb128_cifar100.py'

model = dict(backbone=dict(conversion=dict(stage2=False)))
