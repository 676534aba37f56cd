# ImageNet-1k pretraining: MobileNetV2 1.0x CPWC (CPWC Table 2: 73.0 top-1
# in the paper; 3.7M params, 387M MACs). Every 1x1 conv (expand, project and
# the final 320 -> 1280) is CPWC, through CPWCBackbone around mmpretrain's
# MobileNetV2; the recipe is the baseline's (./mobilenet-v2_8xb32_in1k.py).
# Detection convention it feeds: pytorch mean / std, RGB.
_base_ = './mobilenet-v2_8xb32_in1k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.CPWCBackbone',
        backbone=dict(type='mmpretrain.MobileNetV2', widen_factor=1.0),
        conversion=dict(type='CPWC', stage2=True, pwc=True),
    )
)
