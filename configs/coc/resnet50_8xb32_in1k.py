# ImageNet-1k pretraining: ResNet-50 baseline with the CoC release's ResNet
# recipe (its configs/resnet50-b32x8-imagenet.py, mmcls's stock ResNet-50):
# SGD lr 0.1, momentum 0.9, weight decay 1e-4, batch 256 (8 GPUs x 32), 100
# epochs, lr x0.1 at 30 / 60 / 90; RandomResizedCrop 224 + flip, test resize
# 256 / centre crop 224; BN trainable (norm_eval=False), zero_init_residual.
# That is mmpretrain's resnet50_8xb32_in1k.py, built from the same bases.
# mmpretrain's ResNet has mmdet's keys.
# Detection convention it feeds: pytorch style, RGB, mean [123.675, 116.28,
# 103.53], std [58.395, 57.12, 57.375] (mmdet's RetinaNet R-50 baseline).
# Start a detector: tools/model_converters/pretrain_to_detector.py.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/cpwc_runtime.py',
]
default_hooks = dict(checkpoint=dict(type='mmdet.AtomicCheckpointHook'))
