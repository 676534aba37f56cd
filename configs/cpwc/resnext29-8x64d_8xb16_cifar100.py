# CIFAR-100 pretraining: ResNeXt-29 8x64d baseline (CPWC Table 1: 82.23 top-1
# in the paper): Xie et al.'s CIFAR model (64-channel 3x3 stem, 3 x 3
# ResNeXt bottlenecks, 256 / 512 / 1024 output channels, 8 groups of 64).
# Recipe: "the ResNeXt paper's CIFAR settings": SGD lr 0.1, momentum 0.9,
# weight decay 5e-4, batch 128 on 8 GPUs (8 x 16), 300 epochs, lr x0.1 at
# epochs 150 and 225; random crop 32 (4-pixel padding) + flip.
# Detection convention it feeds: none (CIFAR-100 classification only).
_base_ = './resnet164-preact_1xb128_cifar100.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ResNeXtCIFAR',
        depth=29,
        groups=8,
        width_per_group=64,
    ),
    head=dict(in_channels=1024),
)
train_dataloader = dict(batch_size=16)
val_dataloader = dict(batch_size=16)
test_dataloader = val_dataloader
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[150, 225], gamma=0.1
)
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
