# RetinaNet R-50-stnd-FPN 1x, CoC poster row 2 (COCO val box AP 37.9).
# Every k>1 conv of the backbone (stem 7x7, each Bottleneck's 3x3) is a
# 'stnd' conv (see configs/README.md); 1x1 convs stay plain.
# Deploy form: add model = dict(backbone=dict(deploy=True)), or convert a
# checkpoint with tools/model_converters/reparameterize_model.py.
# Weights: an ImageNet-trained stnd ResNet-50; set
# model.backbone.init_cfg.checkpoint=PATH.
_base_ = './retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['cpwc_mmdet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='CoCResNet',
        conv_type='stnd',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/resnet50_stnd_imagenet.pth')))
