# Toy pretraining, CoC-ResNet-50 (base_channels 16): the stem and every 3x3
# conv are CoC, as in ../coc/resnet50-coc_8xb32_in1k.py (conversion type 'stnd' /
# 'orth' give the poster's other rows). Detection convention it feeds: pytorch
# style, RGB, ImageNet mean / std: retinanet_r50-coc_fpn_toy.py, through
# tools/model_converters/pretrain_to_detector.py.
_base_ = './resnet50_toy-cls.py'

model = dict(
    backbone=dict(
        type='mmdet.CoCResNet', conversion=dict(type='CoC'), norm_eval=False
    )
)
