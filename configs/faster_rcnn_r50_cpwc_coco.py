# Faster R-CNN R-50-CPWC C4, CPWC Table 3 "Ours" (COCO val 31.7 AP / 52.4
# AP50).
# Every pointwise conv of the backbone (conv1..layer3) and of the shared head
# (layer4) is CPWC (stage 1 + stage 2 + the 1x1 path).
# Weights: an ImageNet-trained CPWC-ResNet-50 (paper Table 2, not public):
# set model.backbone.init_cfg.checkpoint and
# model.roi_head.shared_head.init_cfg.checkpoint to it.
_base_ = './faster_rcnn_r50_coco.py'
custom_imports = dict(imports=['cpwc_mmdet'], allow_failed_imports=False)

cpwc_cfg = dict(stage2=True, pwc=True)
pretrained = 'checkpoints/cpwc_resnet50_caffe_imagenet.pth'
model = dict(
    backbone=dict(
        type='CPWCResNet',
        cpwc_cfg=cpwc_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    roi_head=dict(
        shared_head=dict(
            type='CPWCResLayer',
            cpwc_cfg=cpwc_cfg,
            init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        )
    ),
)
