# Toy Mask R-CNN HRNetV2p-orth: the poster's "orth" row (conversion type 'orth' on
# every k>1 conv of the HRNet).
_base_ = './mask-rcnn_hrnetv2p-w8-coc_toy.py'
model = dict(backbone=dict(conversion=dict(type='orth')))
