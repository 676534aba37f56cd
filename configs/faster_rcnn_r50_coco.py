# Faster R-CNN R-50 C4, CPWC Table 3 baseline (COCO val 30.3 AP / 51.3 AP50).
# The paper's setting: conv1..layer3 feed the RPN, layer4 runs per RoI as the
# shared head with stride 1 on RoIAlign 7x7 features, then avg-pools to 2048.
# Weights: mmdet's base loads open-mmlab://detectron2/resnet50_caffe; override
# with --cfg-options model.backbone.init_cfg.checkpoint=PATH (and the same for
# model.roi_head.shared_head.init_cfg.checkpoint).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50-caffe_c4-1x_coco.py'

model = dict(
    roi_head=dict(
        shared_head=dict(stride=1),
        bbox_roi_extractor=dict(roi_layer=dict(output_size=7)),
        bbox_head=dict(roi_feat_size=7),
    )
)
