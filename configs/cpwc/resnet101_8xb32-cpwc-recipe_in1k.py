# ImageNet-1k pretraining: ResNet-101 with the CPWC recipe (CPWC Table 2
# "ResNet-101": paper re-implementation 77.2 top-1), the deeper comparison
# for CPWC-ResNet-50: ./resnet50_8xb32-cpwc-recipe_in1k.py at depth 101.
# Detection convention it feeds: pytorch style, RGB, mean [123.675, 116.28,
# 103.53], std [58.395, 57.12, 57.375].
# Start a detector: tools/model_converters/pretrain_to_detector.py.
_base_ = './resnet50_8xb32-cpwc-recipe_in1k.py'

model = dict(backbone=dict(depth=101))
