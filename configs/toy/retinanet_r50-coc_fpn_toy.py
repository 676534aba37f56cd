# Toy RetinaNet R-50-CoC-FPN: CoC on the stem and every Bottleneck 3x3.
_base_ = './retinanet_r50_fpn_toy.py'
model = dict(backbone=dict(type='CoCResNet', conversion=dict(type='CoC')))
