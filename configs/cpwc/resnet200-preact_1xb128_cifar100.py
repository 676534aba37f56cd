# CIFAR-100 pretraining: ResNet-200 (CPWC Table 1: 77.5 top-1 in the paper),
# the depth-matched comparison for CPWC: the pre-activation bottleneck
# ResNet with 3 x 22 blocks; recipe as ./resnet164-preact_1xb128_cifar100.py.
# Detection convention it feeds: none (CIFAR-100 classification only).
_base_ = './resnet164-preact_1xb128_cifar100.py'

model = dict(backbone=dict(depth=200))
