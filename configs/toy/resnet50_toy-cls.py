# Toy pretraining, ResNet-50 baseline at the toy detectors' width
# (base_channels 16) on the toy classification set: the toy stand-in for
# ../coc/resnet50_8xb32_in1k.py (mmpretrain's ResNet, whose keys are mmdet's).
# Detection convention it feeds: pytorch style, RGB, mean [123.675, 116.28,
# 103.53], std [58.395, 57.12, 57.375]: faster-rcnn_r50_c4_toy.py and
# retinanet_r50_fpn_toy.py, through
# tools/model_converters/pretrain_to_detector.py.
_base_ = ['mmpretrain::_base_/models/resnet50.py', './_base_/toy_cls.py']

base_channels = 16
model = dict(
    backbone=dict(stem_channels=base_channels, base_channels=base_channels),
    head=dict(num_classes=3, in_channels=base_channels * 32, topk=(1,)),
)
