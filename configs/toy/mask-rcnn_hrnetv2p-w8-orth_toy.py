# Toy Mask R-CNN HRNetV2p-orth: the poster's "orth" row (conv_type 'orth' on
# every k>1 conv of the HRNet).
_base_ = './mask-rcnn_hrnetv2p-w8-coc_toy.py'
model = dict(backbone=dict(conv_type='orth'))
