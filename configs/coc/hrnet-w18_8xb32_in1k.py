# ImageNet-1k pretraining: HRNet-W18 baseline with the CoC release's HRNet
# recipe (its configs/hrnet18-b32x8-imagenet.py): SGD lr 0.05, Nesterov,
# momentum 0.9, weight decay 1e-4, 100 epochs, lr x0.1 at 30 / 60 / 90;
# RandomResizedCrop 224 + flip, test resize 256 / centre crop 224; BN
# trainable. The release's file is named b32x8 but loads 88 images per GPU
# (the GPU count is not recorded); we keep 8 x 32 = 256 with lr 0.05.
# Model: mmpretrain's HRNet-W18 classifier (HRFuseScales neck to 2048
# channels, global pooling, linear head), the release's classification head
# in mmpretrain's form. mmpretrain's and mmdet's HRNet have the same modules
# and keys, so the backbone starts mmdet's HRNet and CoCHRNet.
# Detection convention it feeds: RGB, mean [123.675, 116.28, 103.53], std
# [58.395, 57.12, 57.375] (mmdet's Mask R-CNN HRNetV2p-W18 baseline).
# Start a detector: tools/model_converters/pretrain_to_detector.py.
_base_ = [
    'mmpretrain::_base_/models/hrnet/hrnet-w18.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/cpwc_runtime.py',
]
default_hooks = dict(checkpoint=dict(type='mmdet.AtomicCheckpointHook'))

model = dict(backbone=dict(type='mmpretrain.HRNet', norm_eval=False))
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4, nesterov=True
    )
)
