# Toy RetinaNet R-50-orth-FPN: the poster's "orth" row (conversion type 'orth' on the
# stem and every Bottleneck 3x3).
_base_ = './retinanet_r50-coc_fpn_toy.py'
model = dict(backbone=dict(conversion=dict(type='orth')))
