# CIFAR-100 pretraining: ResNet-164 baseline (CPWC Table 1: 77.0 top-1 in
# the paper): He et al.'s pre-activation bottleneck ResNet for CIFAR (3 x 18
# blocks, 16 / 32 / 64 middle channels x4), global pooling, 100-way fc.
# Recipe (the paper): SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 128
# (1 GPU), 250 epochs, lr / 5 every 50 epochs; standard CIFAR augmentation
# (random crop 32 with 4-pixel padding, flip), CIFAR-100 mean / std.
# Detection convention it feeds: none (CIFAR-100 classification only: the
# images are RGB already and normalised with CIFAR's mean / std).
_base_ = [
    'mmpretrain::_base_/models/resnet50_cifar.py',
    'mmpretrain::_base_/datasets/cifar100_bs16.py',
    'mmpretrain::_base_/schedules/cifar10_bs128.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/cpwc_runtime.py',
]
default_hooks = dict(checkpoint=dict(type='mmdet.AtomicCheckpointHook'))

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.PreActResNetCIFAR',
        depth=164,
    ),
    head=dict(num_classes=100, in_channels=256),
)
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4)
)
param_scheduler = dict(
    type='MultiStepLR',
    by_epoch=True,
    milestones=[50, 100, 150, 200],
    gamma=0.2,
)
train_cfg = dict(by_epoch=True, max_epochs=250, val_interval=1)
