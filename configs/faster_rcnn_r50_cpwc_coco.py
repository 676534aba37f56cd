# Faster R-CNN R-50-CPWC C4, CPWC Table 3 "Ours" (COCO val 31.7 AP / 52.4
# AP50), in the paper's own setting: ./faster_rcnn_r50_coco.py (see its
# header: the setting key by key, and what mmdet cannot express exactly:
# the RoI pooling, the training crops, crowd boxes, at most 50 ground-truth
# boxes per image, the remaining +1 details, the code's caffe style
# backbone) with every pointwise conv
# of the backbone (conv1..layer3) and of the shared head (layer4) CPWC
# (stage 1 + stage 2 + the 1x1 path). Nothing else differs.
# Weights: CPWC-ResNet-50 pretrained with the baseline's recipe and
# normalisation (pytorch style, RGB, ImageNet mean / std):
#   python tools/pretrain.py configs/cpwc/resnet50-cpwc_8xb32_in1k.py
#   python tools/model_converters/pretrain_to_detector.py CKPT \
#       checkpoints/resnet50-cpwc_in1k_det.pth \
#       --config configs/faster_rcnn_r50_cpwc_coco.py
_base_ = './faster_rcnn_r50_coco.py'

conversion = dict(type='CPWC', stage2=True, pwc=True)
pretrained = 'checkpoints/resnet50-cpwc_in1k_det.pth'
model = dict(
    backbone=dict(
        type='CPWCResNet',
        conversion=conversion,
        init_cfg=dict(checkpoint=pretrained),
    ),
    roi_head=dict(
        shared_head=dict(
            type='CPWCResLayer',
            conversion=conversion,
            init_cfg=dict(checkpoint=pretrained),
        )
    ),
)
