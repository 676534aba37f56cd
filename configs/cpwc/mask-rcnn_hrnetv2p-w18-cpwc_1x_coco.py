# Mask R-CNN HRNetV2p-W18-CPWC 1x: every 1x1 conv of HRNet (Bottleneck,
# downsample, fuse layers) is CPWC (CPWCHRNet, HRNet's own modules and keys
# with each 1x1 conv swapped). Not in the CoC poster: a side-by-side row with
# configs/coc/, whose baseline this is with only the backbone type changed.
# Weights: an ImageNet-trained CPWC HRNet-W18. Make it:
#   python tools/pretrain.py configs/cpwc/hrnet-w18-cpwc_8xb32_in1k.py
#   python tools/model_converters/pretrain_to_detector.py CKPT \
#       checkpoints/hrnet-w18-cpwc_in1k_det.pth --config THIS_CONFIG
# and train with --cfg-options
# model.backbone.init_cfg.checkpoint=checkpoints/hrnet-w18-cpwc_in1k_det.pth
# (tools/reproduce.py does this). Left at the baseline's plain checkpoint, the
# CPWC layers start from its 1x1 weights with zero context (inflation).
_base_ = '../coc/mask-rcnn_hrnetv2p-w18_1x_coco.py'

model = dict(backbone=dict(type='CPWCHRNet'))
