# Toy RetinaNet R-50-stnd-FPN: the poster's "stnd" row (conv_type 'stnd' on the
# stem and every Bottleneck 3x3).
_base_ = './retinanet_r50-coc_fpn_toy.py'
model = dict(backbone=dict(conv_type='stnd'))
