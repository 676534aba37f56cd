# Toy pretraining, CPWC-ResNet-50 (base_channels 16): every pointwise conv is
# CPWC, as in ../cpwc/resnet50-cpwc_8xb32_in1k.py. Detection convention it
# feeds: pytorch style, RGB, ImageNet mean / std:
# faster-rcnn_r50-cpwc_c4_toy.py (backbone and, through layer4, the shared
# head), through tools/model_converters/pretrain_to_detector.py.
_base_ = './resnet50_toy-cls.py'

model = dict(
    backbone=dict(
        type='mmdet.CPWCResNet',
        conversion=dict(type='CPWC', stage2=True, pwc=True),
        norm_eval=False,
    )
)
