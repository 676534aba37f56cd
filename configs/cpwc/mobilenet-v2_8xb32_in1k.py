# ImageNet-1k pretraining: MobileNetV2 1.0x baseline (CPWC Table 2
# "MobileNetV2 1.0x": 72.0 top-1 in the paper).
# Recipe: "the MobileNetV2 paper's standard settings", as mmpretrain
# reproduces them (its mobilenet-v2_8xb32_in1k.py, inherited unchanged): SGD
# lr 0.045, momentum 0.9, wd 4e-5, lr x0.98 every epoch, 300 epochs, batch
# 256 (8 x 32). (The MobileNetV2 paper used RMSProp with the same lr decay.)
# Detection convention it feeds: pytorch mean / std, RGB (no detection
# config of this project uses MobileNetV2 yet).
_base_ = [
    'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    '../_base_/cpwc_runtime.py',
]
default_hooks = dict(checkpoint=dict(type='mmdet.AtomicCheckpointHook'))

model = dict(backbone=dict(type='mmpretrain.MobileNetV2'))
