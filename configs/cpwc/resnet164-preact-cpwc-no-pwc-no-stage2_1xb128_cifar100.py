# CIFAR-100 pretraining: ResNet-164 CPWC without the 1x1 path and without
# stage 2 (CPWC Table 4: 70.8 top-1 in the paper): every 1x1 conv of the
# pre-activation ResNet-164 becomes CPWC's stage 1 alone (pwc=False,
# stage2=False); recipe as ./resnet164-preact_1xb128_cifar100.py.
# Detection convention it feeds: none (CIFAR-100 classification only).
_base_ = './resnet164-preact-cpwc_1xb128_cifar100.py'

model = dict(backbone=dict(conversion=dict(pwc=False, stage2=False)))
