# Toy Mask R-CNN HRNetV2p-stnd: the poster's "stnd" row (conversion type 'stnd' on
# every k>1 conv of the HRNet).
_base_ = './mask-rcnn_hrnetv2p-w8-coc_toy.py'
model = dict(backbone=dict(conversion=dict(type='stnd')))
