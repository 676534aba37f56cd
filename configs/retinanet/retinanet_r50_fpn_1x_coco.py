# RetinaNet R-50-FPN 1x, CoC poster row 1 (COCO val box AP 36.3).
# Weights: torchvision://resnet50 (mmdet's base); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
