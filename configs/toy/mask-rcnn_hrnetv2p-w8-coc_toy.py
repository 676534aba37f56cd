# Toy Mask R-CNN HRNetV2p-CoC: CoC on every k>1 conv of the HRNet.
_base_ = './mask-rcnn_hrnetv2p-w8_toy.py'
model = dict(backbone=dict(type='CoCHRNet', conversion=dict(type='CoC')))
