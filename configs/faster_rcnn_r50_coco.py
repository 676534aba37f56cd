# Faster R-CNN R-50 C4, CPWC Table 3 baseline (COCO val 30.3 AP / 51.3 AP50),
# in the paper's own setting: the code it used, jwyang/faster-rcnn.pytorch
# (res50, COCO), key by key in mmdet 3.x terms. conv1..layer3 feed the RPN;
# layer4 runs per RoI as the shared head with stride 1 on RoIAlign 7x7
# features, average-pooled to 2048. (mmdet's own C4 1x recipe is the other
# pair, cpwc/faster-rcnn_r50-caffe_c4-mmdet-1x_coco.py: about 35.6 AP.)
#
# Weights: both Table 3 rows start from backbones pretrained with one recipe
# (the paper's: 100 epochs, lr 0.1, x0.1 every 30), with that pretraining's
# normalisation: pytorch style, RGB, mean [123.675, 116.28, 103.53], std
# [58.395, 57.12, 57.375] (the code itself used a caffe backbone with BGR
# mean [102.98, 115.95, 122.77] and no std). Make the checkpoint:
#   python tools/pretrain.py configs/cpwc/resnet50_8xb32-cpwc-recipe_in1k.py
#   python tools/model_converters/pretrain_to_detector.py CKPT \
#       checkpoints/resnet50_cpwc-recipe_in1k_det.pth \
#       --config configs/faster_rcnn_r50_coco.py
# (layer4 goes to the shared head, so this file differs from an FPN one).
#
# Schedule: the README's COCO row at scale 600 ("Res-101 | 8 | 24 | 1e-2 |
# 4 | 6"; the paper gives none): batch 24 (8 GPUs x 3), lr 0.01, no
# warm-up, `--epochs 6 --lr_decay_step 4`. The code decays when
# `epoch % (lr_decay_step + 1) == 0`, i.e. at the start of its epoch 5, and
# each of its epochs is 2 passes over COCO train (flipped copies appended;
# RandomFlip here sees each image once per epoch): 12 epochs, lr x0.1 after
# epoch 8. Short side 600 at train and test with no cap on the long side
# (the code's MAX_SIZE clamp is commented out).
#
# Expressed with mmdet's legacy pieces: anchors centred at 16k + 7.5 with
# the +1 sizes of py-faster-rcnn (LegacyAnchorGenerator, center_offset 0.5),
# the +1 box coder (LegacyDeltaXYWHBBoxCoder), RoIAlign without the -0.5
# shift (aligned=False), no proposal size filter (min_bbox_size -1).
# Softmax RPN with border-anchor removal is expressed exactly: RPNHead with
# use_sigmoid=False is a 2-way softmax, allowed_border=0 drops anchors not
# wholly inside the image.
#
# What mmdet cannot express (approximated as said, not silently):
# * the RoI pooling: the code's "align" (RoIAlignAvg) takes 8x8 bilinear
#   samples at bin corners over [x1/16, x2/16 + 1] and averages them 2x2
#   with stride 1 to 7x7; here mmcv's RoIAlign 7x7, sampling_ratio 2 (its
#   bins' interiors). (The 14x14 -> 2x2 max path is the code's "crop" mode,
#   which its res50.yml selects; the paper says it used align.)
# * the training crops: images with aspect ratio outside [0.5, 2] are
#   randomly cropped to it, every image is zero-padded to its aspect
#   group's extreme ratio (a group is one batch of images sorted by ratio:
#   24 at batch 24; the padded size counting as the image size) and the
#   group straddling ratio 1 is square-cropped; not done here.
# * crowd boxes: the code trains them as ordinary positives (USE_ALL_GT);
#   mmdet ignores them.
# * at most 50 ground-truth boxes per image, a random 50 (MAX_NUM_GT_BOXES);
#   mmdet keeps all.
# * the remaining +1 details: non-square anchor sizes rounded before scaling
#   (up to ~6% per side, e.g. 736x384 vs mmdet's 724x362), IoU without +1,
#   integer inclusive gt boxes; background RoIs drawn with replacement to
#   fill 256 (mmdet: without).
# * the backbone: the code's is caffe style (stride on the 1x1, max-pool
#   padding 0 with ceil_mode, BGR mean without std); here pytorch style as
#   pretrained (see Weights).
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50-caffe_c4-1x_coco.py',
    './_base_/cpwc_runtime.py',
]
default_hooks = dict(checkpoint=dict(type='mmdet.AtomicCheckpointHook'))

pretrained = 'checkpoints/resnet50_cpwc-recipe_in1k_det.pth'
# every BN frozen: statistics (norm_eval) and affine (requires_grad)
norm_cfg = dict(type='BN', requires_grad=False)
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
    ),
    backbone=dict(
        style='pytorch',
        frozen_stages=1,  # conv1 + layer1 (the code's FIXED_BLOCKS = 1)
        norm_cfg=norm_cfg,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.'
        ),
    ),
    rpn_head=dict(
        feat_channels=512,  # one 3x3 conv of 512 channels
        anchor_generator=dict(  # 12 anchors, 64 to 512 px, centred 7.5
            type='LegacyAnchorGenerator',
            center_offset=0.5,
            scales=[4, 8, 16, 32],
            ratios=[0.5, 1.0, 2.0],
            strides=[16],
        ),
        bbox_coder=dict(
            type='LegacyDeltaXYWHBBoxCoder',
            target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[1.0, 1.0, 1.0, 1.0],
        ),
        # softmax objectness: two scores per anchor
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0
        ),
        # smooth L1 with sigma 3: beta = 1 / sigma^2
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0),
    ),
    roi_head=dict(
        shared_head=dict(
            stride=1,  # layer4 with stride 1
            style='pytorch',
            norm_cfg=norm_cfg,
            norm_eval=True,
            init_cfg=dict(
                type='Pretrained',
                checkpoint=pretrained,
                prefix='roi_head.shared_head.',
            ),
        ),
        bbox_roi_extractor=dict(
            roi_layer=dict(
                type='RoIAlign', output_size=7, sampling_ratio=2, aligned=False
            )
        ),
        bbox_head=dict(
            roi_feat_size=7,
            bbox_coder=dict(
                type='LegacyDeltaXYWHBBoxCoder',
                target_means=[0.0, 0.0, 0.0, 0.0],
                target_stds=[0.1, 0.1, 0.2, 0.2],
            ),
            with_avg_pool=True,  # 7x7x2048 -> 2048
            reg_class_agnostic=False,
            loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0),
        ),
    ),
    train_cfg=dict(
        rpn=dict(
            # each gt's best anchors are positive at any IoU > 0 (the code
            # sets a gt's max overlap of 0 to 1e-5)
            assigner=dict(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=1e-5),
            sampler=dict(num=256, pos_fraction=0.5),
            allowed_border=0,  # anchors crossing the border dropped
        ),
        rpn_proposal=dict(
            nms_pre=12000,
            nms=dict(type='nms', iou_threshold=0.7),
            max_per_img=2000,
            min_bbox_size=-1,  # no size filter
        ),
        rcnn=dict(
            # foreground IoU >= 0.5, background IoU in [0, 0.5)
            assigner=dict(
                pos_iou_thr=0.5, neg_iou_thr=(0.0, 0.5), min_pos_iou=0.5
            ),
            sampler=dict(num=256, pos_fraction=0.25),
        ),
    ),
    test_cfg=dict(
        rpn=dict(
            nms_pre=6000,
            nms=dict(type='nms', iou_threshold=0.7),
            max_per_img=300,
            min_bbox_size=-1,
        ),
        rcnn=dict(
            score_thr=0.0,  # class-wise NMS (mmdet's multiclass_nms)
            nms=dict(type='nms', iou_threshold=0.3),
            max_per_img=100,
        ),
    ),
)

# COCO 2017 train / val (= the code's 2014 train + valminusminival /
# minival); short side 600, long side uncapped, train and test
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(100000, 600), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(100000, 600), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=(
            'img_id',
            'img_path',
            'ori_shape',
            'img_shape',
            'scale_factor',
        ),
    ),
]
train_dataloader = dict(batch_size=3, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# SGD momentum 0.9, lr 0.01 for batch 24, weight decay 1e-4 except biases:
# the code's BIAS_DECAY False (no decay on biases) and DOUBLE_BIAS False
# (biases keep the base lr)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(bias_lr_mult=1.0, bias_decay_mult=0.0),
)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8],
        gamma=0.1,
    )
]
auto_scale_lr = dict(enable=False, base_batch_size=24)
