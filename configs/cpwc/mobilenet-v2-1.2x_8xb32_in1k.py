# ImageNet-1k pretraining: MobileNetV2 1.2x (CPWC Table 2: 72.4 top-1 in the
# paper; 4.7M params, 465M MACs): the width-matched comparison for CPWC.
# mmpretrain's widening (channels rounded to multiples of 8, last conv
# 1280 x 1.2 = 1536); the recipe is the baseline's
# (./mobilenet-v2_8xb32_in1k.py).
# Detection convention it feeds: pytorch mean / std, RGB.
_base_ = './mobilenet-v2_8xb32_in1k.py'

model = dict(
    backbone=dict(widen_factor=1.2),
    head=dict(in_channels=1536),
)
