# Toy RetinaNet R-50-stnd-FPN: the poster's "stnd" row (conversion type 'stnd' on the
# stem and every Bottleneck 3x3).
_base_ = './retinanet_r50-coc_fpn_toy.py'
model = dict(backbone=dict(conversion=dict(type='stnd')))
