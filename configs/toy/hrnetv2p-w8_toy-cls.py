# Toy pretraining, HRNet "w8" (the toy Mask R-CNN's backbone: HRNet-W18's
# topology, fewer modules, branches of 8/16/32/64 channels) as mmpretrain's
# HRNet classifier: HRFuseScales neck, global pooling, linear head, as
# ../coc/hrnet-w18_8xb32_in1k.py. mmpretrain's and mmdet's HRNet have the same
# keys. Detection convention it feeds: RGB, ImageNet mean / std:
# mask-rcnn_hrnetv2p-w8_toy.py, through
# tools/model_converters/pretrain_to_detector.py.
_base_ = [
    'mmpretrain::_base_/models/hrnet/hrnet-w18.py',
    './_base_/toy_cls.py',
]

channels = (8, 16, 32, 64)
hrnet_extra = dict(
    stage1=dict(
        num_modules=1,
        num_branches=1,
        block='BOTTLENECK',
        num_blocks=(2,),
        num_channels=(32,),
    ),
    stage2=dict(
        num_modules=1,
        num_branches=2,
        block='BASIC',
        num_blocks=(2, 2),
        num_channels=channels[:2],
    ),
    stage3=dict(
        num_modules=1,
        num_branches=3,
        block='BASIC',
        num_blocks=(2, 2, 2),
        num_channels=channels[:3],
    ),
    stage4=dict(
        num_modules=1,
        num_branches=4,
        block='BASIC',
        num_blocks=(2, 2, 2, 2),
        num_channels=channels,
    ),
)
model = dict(
    backbone=dict(_delete_=True, type='mmpretrain.HRNet', extra=hrnet_extra),
    neck=[
        dict(type='HRFuseScales', in_channels=channels, out_channels=256),
        dict(type='GlobalAveragePooling'),
    ],
    head=dict(num_classes=3, in_channels=256, topk=(1,)),
)
