# CIFAR-100 pretraining: ResNeXt-29 16x64d (CPWC Table 1: 82.69 top-1 in the
# paper), the wider comparison for CPWC: 16 groups of 64; recipe as
# ./resnext29-8x64d_8xb16_cifar100.py.
# Detection convention it feeds: none (CIFAR-100 classification only).
_base_ = './resnext29-8x64d_8xb16_cifar100.py'

model = dict(backbone=dict(groups=16))
