# ImageNet-1k pretraining: ResNet-50 baseline with the CPWC recipe (CPWC
# Table 2 "ResNet-50": paper re-implementation 76.0 top-1).
# Recipe (the paper): the ResNet paper's settings except lr 0.1, 100 epochs,
# lr x0.1 every 30 epochs: SGD momentum 0.9, weight decay 1e-4, batch 256
# (8 GPUs x 32), RandomResizedCrop 224 + flip, test resize 256 / centre crop
# 224. mmpretrain's imagenet_bs256 schedule is exactly that (steps at 30, 60,
# 90 of 100 epochs). Residual BNs start at 1 (zero_init_residual=False), as
# in the ResNet paper: the one difference from ../coc/resnet50_8xb32_in1k.py.
# Backbone: mmdet's ResNet, the class CPWCResNet subclasses, so the rows of
# this recipe differ only by the layer. BN trains (norm_eval=False).
# Detection convention it feeds: pytorch style, RGB, mean [123.675, 116.28,
# 103.53], std [58.395, 57.12, 57.375] (mmdet's ResNet-50 detection configs).
# Start a detector: tools/model_converters/pretrain_to_detector.py.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/cpwc_runtime.py',
]
default_hooks = dict(checkpoint=dict(type='mmdet.AtomicCheckpointHook'))

model = dict(
    backbone=dict(
        type='mmdet.ResNet',
        norm_eval=False,
        zero_init_residual=False,
    )
)
