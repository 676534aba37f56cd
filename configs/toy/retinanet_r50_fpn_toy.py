# Toy RetinaNet R-50-FPN (the CoC poster's RetinaNet rows, narrowed for a CPU).
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    './_base_/toy_coco_detection.py',
    './_base_/toy_schedule.py',
]
base_channels = 16
model = dict(
    backbone=dict(
        base_channels=base_channels,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None,
    ),
    neck=dict(
        in_channels=[base_channels * 4 * 2**i for i in range(4)],
        out_channels=64,
    ),
    bbox_head=dict(
        num_classes=3,
        in_channels=64,
        feat_channels=64,
        stacked_convs=2,
        anchor_generator=dict(octave_base_scale=2),
    ),
    test_cfg=dict(max_per_img=20),
)
