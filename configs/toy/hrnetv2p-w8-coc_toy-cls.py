# Toy pretraining, CoC HRNet "w8": every k>1 conv of the backbone is CoC,
# through CoCBackbone around mmpretrain's HRNet (whose tuple output feeds
# HRFuseScales), as ../coc/hrnet-w18-coc_8xb32_in1k.py; the keys are
# CoCHRNet's. Detection convention it feeds: RGB, ImageNet mean / std:
# mask-rcnn_hrnetv2p-w8-coc_toy.py, through
# tools/model_converters/pretrain_to_detector.py.
_base_ = './hrnetv2p-w8_toy-cls.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.CoCBackbone',
        conversion=dict(type='CoC'),
        backbone=dict(type='mmpretrain.HRNet', extra={{_base_.hrnet_extra}}),
    )
)
