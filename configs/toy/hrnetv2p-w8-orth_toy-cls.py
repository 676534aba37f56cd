# Toy pretraining, orth HRNet "w8": the poster's "orth" row (conversion type 'orth'
# on every k>1 conv), as ../coc/hrnet-w18-orth_8xb32_in1k.py. Detection
# convention it feeds: RGB, ImageNet mean / std:
# mask-rcnn_hrnetv2p-w8-orth_toy.py, through
# tools/model_converters/pretrain_to_detector.py.
_base_ = './hrnetv2p-w8-coc_toy-cls.py'

model = dict(backbone=dict(conversion=dict(type='orth')))
