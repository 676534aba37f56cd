# RetinaNet R-50-CPWC-FPN 1x: CPWC (not in the CoC poster) in the poster's
# detection setting, for a side-by-side row with configs/coc/.
# Baseline: ../coc/retinanet_r50_fpn_1x_coco.py (mmdet's RetinaNet R-50-FPN 1x).
# Weights: an ImageNet-trained CPWC-ResNet-50; set
# model.backbone.init_cfg.checkpoint=PATH.
# Make it: python tools/pretrain.py configs/cpwc/resnet50-cpwc_8xb32_in1k.py,
# then tools/model_converters/pretrain_to_detector.py CKPT
# checkpoints/cpwc_resnet50_imagenet.pth --config THIS_CONFIG (checks every key
# and the normalisation).
_base_ = '../coc/retinanet_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='CPWCResNet',
        init_cfg=dict(checkpoint='checkpoints/cpwc_resnet50_imagenet.pth'),
    )
)
