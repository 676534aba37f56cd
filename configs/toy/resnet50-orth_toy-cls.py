# Toy pretraining, orth-ResNet-50 (base_channels 16): the CoC poster's "orth"
# row, as ../coc/resnet50-orth_8xb32_in1k.py (conversion type 'orth' on the stem and
# every 3x3 conv). Detection convention it feeds: pytorch style, RGB,
# ImageNet mean / std: retinanet_r50-orth_fpn_toy.py, through
# tools/model_converters/pretrain_to_detector.py.
_base_ = './resnet50-coc_toy-cls.py'

model = dict(backbone=dict(conversion=dict(type='orth')))
