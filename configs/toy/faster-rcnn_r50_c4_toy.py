# Toy Faster R-CNN R-50 C4 (the CPWC paper's Table 3 architecture, narrowed
# for a CPU): layer4 is the per-RoI shared head with stride 1 on RoIAlign
# 7x7. Its training is the toy schedule's, not Table 3's setting.
# From scratch: trainable BN, no pretrained weights.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50-caffe-c4.py',
    './_base_/toy_coco_detection.py',
    './_base_/toy_schedule.py',
]
base_channels = 16
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
    ),
    backbone=dict(
        base_channels=base_channels,
        style='pytorch',
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=None,
    ),
    rpn_head=dict(
        in_channels=base_channels * 16,
        feat_channels=base_channels * 8,
        anchor_generator=dict(scales=[1, 2, 4, 8]),
    ),
    roi_head=dict(
        shared_head=dict(
            type='SlimResLayer',
            base_channels=base_channels,
            stride=1,
            style='pytorch',
            norm_cfg=norm_cfg,
            norm_eval=False,
            init_cfg=None,
        ),
        bbox_roi_extractor=dict(
            roi_layer=dict(output_size=7), out_channels=base_channels * 16
        ),
        bbox_head=dict(
            roi_feat_size=7, in_channels=base_channels * 32, num_classes=3
        ),
    ),
    # the shared head runs layer4 once per RoI: few RoIs keep a CPU step fast
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=16)),
    ),
    test_cfg=dict(
        rpn=dict(nms_pre=1000, max_per_img=50), rcnn=dict(max_per_img=20)
    ),
)
