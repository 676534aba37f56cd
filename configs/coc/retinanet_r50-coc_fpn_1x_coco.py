# RetinaNet R-50-coc-FPN 1x, CoC poster row 4 (COCO val box AP 38.1).
# Every k>1 conv of the backbone (stem 7x7, each Bottleneck's 3x3) is a
# 'coc' conv (see configs/coc/README.md); 1x1 convs stay plain.
# Baseline: ./retinanet_r50_fpn_1x_coco.py (poster row 1; its backbone is
# pretrained with the same recipe).
# Deploy form: ./deploy/retinanet_r50-coc_fpn_deploy_1x_coco.py; convert a
# checkpoint with tools/model_converters/reparameterize_model.py.
# Weights: an ImageNet-trained coc ResNet-50; set
# model.backbone.init_cfg.checkpoint=PATH.
# Make it: python tools/pretrain.py configs/coc/resnet50-coc_8xb32_in1k.py,
# then tools/model_converters/pretrain_to_detector.py CKPT
# checkpoints/resnet50-coc_in1k_det.pth --config THIS_CONFIG (checks every key
# and the normalisation).
_base_ = './retinanet_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        type='CoCResNet',
        init_cfg=dict(checkpoint='checkpoints/resnet50-coc_in1k_det.pth'),
    )
)
