# ImageNet-1k pretraining: HRNet-W18 CPWC, for
# ./mask-rcnn_hrnetv2p-w18-cpwc_1x_coco.py (not in the CPWC paper, which has
# no HRNet): every 1x1 conv of mmpretrain's HRNet-W18 is CPWC, through
# CPWCBackbone (the HRFuseScales neck stays plain). Recipe: the CoC
# release's HRNet recipe (../coc/hrnet-w18_8xb32_in1k.py: SGD lr 0.05,
# Nesterov, 100 epochs, x0.1 at 30 / 60 / 90), so it pairs with that
# baseline and the coc / stnd / orth rows.
# Detection convention it feeds: RGB, mean [123.675, 116.28, 103.53], std
# [58.395, 57.12, 57.375].
# Start a detector: tools/model_converters/pretrain_to_detector.py.
_base_ = '../coc/hrnet-w18_8xb32_in1k.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.CPWCBackbone',
        backbone=dict(type='mmpretrain.HRNet', arch='w18', norm_eval=False),
        conversion=dict(type='CPWC', stage2=True, pwc=True),
    )
)
