# ImageNet-1k pretraining: CPWC-ResNet-50 (CPWC Table 2 "ResNet-50 CPWC":
# 77.2 top-1 in the paper; 26,050,088 params). Every pointwise conv (each
# Bottleneck's conv1 and conv3, each downsample 1x1) is CPWC; the recipe is
# the baseline's (./resnet50_8xb32-cpwc-recipe_in1k.py: SGD lr 0.1, momentum
# 0.9, wd 1e-4, batch 256, 100 epochs, x0.1 every 30).
# Detection convention it feeds: pytorch style, RGB, mean [123.675, 116.28,
# 103.53], std [58.395, 57.12, 57.375]: ./retinanet_r50-cpwc_fpn_1x_coco.py
# and the Faster R-CNN C4 configs (backbone + layer4 as the shared head).
# Start a detector: tools/model_converters/pretrain_to_detector.py.
_base_ = './resnet50_8xb32-cpwc-recipe_in1k.py'

model = dict(
    backbone=dict(
        type='mmdet.CPWCResNet',
        conversion=dict(type='CPWC', stage2=True, pwc=True),
    )
)
