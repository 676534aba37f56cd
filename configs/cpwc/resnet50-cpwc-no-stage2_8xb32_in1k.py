# ImageNet-1k pretraining: CPWC-ResNet-50 without stage 2 (CPWC Table 2
# "ResNet-50 CPWC w/o Stage 2": 76.6 top-1 in the paper; 25,845,608 params).
# Same recipe as ./resnet50_8xb32-cpwc-recipe_in1k.py.
# Detection convention it feeds: pytorch style, RGB, mean [123.675, 116.28,
# 103.53], std [58.395, 57.12, 57.375] (a detection config with
# conversion=dict(type='CPWC', stage2=False)).
# Start a detector: tools/model_converters/pretrain_to_detector.py.
_base_ = './resnet50_8xb32-cpwc-recipe_in1k.py'

model = dict(
    backbone=dict(
        type='mmdet.CPWCResNet',
        conversion=dict(type='CPWC', stage2=False, pwc=True),
    )
)
