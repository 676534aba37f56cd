# Toy pretraining, stnd HRNet "w8": the poster's "stnd" row (conversion type 'stnd'
# on every k>1 conv), as ../coc/hrnet-w18-stnd_8xb32_in1k.py. Detection
# convention it feeds: RGB, ImageNet mean / std:
# mask-rcnn_hrnetv2p-w8-stnd_toy.py, through
# tools/model_converters/pretrain_to_detector.py.
_base_ = './hrnetv2p-w8-coc_toy-cls.py'

model = dict(backbone=dict(conversion=dict(type='stnd')))
