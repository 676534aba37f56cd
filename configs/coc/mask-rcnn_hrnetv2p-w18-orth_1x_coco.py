# Mask R-CNN HRNetV2p-W18-orth 1x, CoC poster row 7 (COCO val mask AP 35.1).
# Every k>1 conv of HRNet is an 'orth' conv (see configs/coc/README.md);
# 1x1 convs stay plain.
# Baseline: ./mask-rcnn_hrnetv2p-w18_1x_coco.py (poster row 5; its backbone
# is pretrained with the same recipe).
# Deploy form: ./deploy/mask-rcnn_hrnetv2p-w18-orth_deploy_1x_coco.py;
# convert a checkpoint with tools/model_converters/reparameterize_model.py.
# Weights: an ImageNet-trained orth HRNet-W18; set
# model.backbone.init_cfg.checkpoint=PATH.
# Make it: python tools/pretrain.py configs/coc/hrnet-w18-orth_8xb32_in1k.py,
# then tools/model_converters/pretrain_to_detector.py CKPT
# checkpoints/hrnet-w18-orth_in1k_det.pth --config THIS_CONFIG (checks every
# key and the normalisation).
_base_ = './mask-rcnn_hrnetv2p-w18_1x_coco.py'

model = dict(
    backbone=dict(
        type='CoCHRNet',
        conversion=dict(type='orth'),
        init_cfg=dict(checkpoint='checkpoints/hrnet-w18-orth_in1k_det.pth'),
    )
)
