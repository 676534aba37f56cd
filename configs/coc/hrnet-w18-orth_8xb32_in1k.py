# ImageNet-1k pretraining: HRNet-W18-orth (the backbone of the CoC poster's
# MaskRCNN-hr18-orth row): every k>1 conv of mmpretrain's HRNet-W18 is a
# 'orth' conv, through CoCBackbone (1x1 convs and the HRFuseScales neck stay
# plain; the release also made its head's 3x3 convs CoC, which no detector
# uses). The keys are CoCHRNet's. Recipe: the baseline's
# (./hrnet-w18_8xb32_in1k.py, the CoC release's HRNet recipe).
# Detection convention it feeds: RGB, mean [123.675, 116.28, 103.53], std
# [58.395, 57.12, 57.375]: ./mask-rcnn_hrnetv2p-w18-orth_1x_coco.py.
# Start a detector: tools/model_converters/pretrain_to_detector.py.
_base_ = './hrnet-w18_8xb32_in1k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.CoCBackbone',
        conversion=dict(type='orth'),
        backbone=dict(type='mmpretrain.HRNet', arch='w18', norm_eval=False),
    )
)
