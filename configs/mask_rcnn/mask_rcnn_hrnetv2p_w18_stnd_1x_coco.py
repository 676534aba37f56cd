# Mask R-CNN HRNetV2p-W18-stnd 1x, CoC poster row 6 (COCO val mask AP 34.9).
# Every k>1 conv of HRNet is a 'stnd' conv (see configs/README.md); 1x1 convs
# stay plain. Deploy form: model = dict(backbone=dict(deploy=True)).
# Weights: an ImageNet-trained stnd HRNet-W18; set
# model.backbone.init_cfg.checkpoint=PATH.
_base_ = './mask_rcnn_hrnetv2p_w18_1x_coco.py'
custom_imports = dict(imports=['cpwc_mmdet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='CoCHRNet',
        conv_type='stnd',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/hrnetv2_w18_stnd_imagenet.pth')))
