# Faster R-CNN R-50-CPWC C4 with mmdet's own 1x recipe, NOT the paper's
# setting: ./faster-rcnn_r50-caffe_c4-mmdet-1x_coco.py with every pointwise
# conv of the backbone (conv1..layer3) and of the shared head (layer4) CPWC.
# The paper's Table 3 setting is ../faster_rcnn_r50_cpwc_coco.py.
# Weights: a caffe-style ImageNet CPWC-ResNet-50 (e.g. mmdet's caffe R-50
# inflated with tools/model_converters/inflate_checkpoint.py); set
# model.backbone.init_cfg.checkpoint and
# model.roi_head.shared_head.init_cfg.checkpoint to it.
_base_ = './faster-rcnn_r50-caffe_c4-mmdet-1x_coco.py'

conversion = dict(type='CPWC', stage2=True, pwc=True)
pretrained = 'checkpoints/cpwc_resnet50_caffe_imagenet.pth'
model = dict(
    backbone=dict(
        type='CPWCResNet',
        conversion=conversion,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    roi_head=dict(
        shared_head=dict(
            type='CPWCResLayer',
            conversion=conversion,
            init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        )
    ),
)
