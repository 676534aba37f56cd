# Mask R-CNN HRNetV2p-W18 1x, CoC poster row 5 (COCO val mask AP 33.9).
# Weights: open-mmlab://msra/hrnetv2_w18 (mmdet's base); override with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = 'mmdet::hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py'
