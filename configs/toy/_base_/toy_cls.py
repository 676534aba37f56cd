# The toy classification set (tools/dataset_converters/make_toy_cls.py): the
# toy detection set's three shapes, one per 32x32 image, in mmpretrain's
# ImageNet layout (meta/{train,val}.txt), read by mmpretrain's CustomDataset
# and scored by its Accuracy (top-1). The toy stand-in for ImageNet, with a
# from-scratch CPU schedule as the toy detectors' (AdamW, warm-up, cosine).
# Normalisation as the toy detectors' (pytorch style, RGB, ImageNet
# mean/std), so a backbone trained here starts them
# (tools/model_converters/pretrain_to_detector.py checks it).
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '../../_base_/cpwc_runtime.py',
]
dataset_type = 'CustomDataset'
data_root = 'data/toy_cls/'
metainfo = dict(classes=('circle', 'square', 'triangle'))
data_preprocessor = dict(
    num_classes=3,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='meta/train.txt',
        data_prefix='train',
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=50,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='meta/val.txt',
        data_prefix='val',
        pipeline=test_pipeline,
    ),
)
val_evaluator = dict(type='Accuracy', topk=(1,))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_iters = 300
train_cfg = dict(by_epoch=False, max_iters=max_iters, val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10.0, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=30,
        end=max_iters,
        eta_min_ratio=0.01,
    ),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(
        type='mmdet.AtomicCheckpointHook',
        by_epoch=False,
        interval=max_iters,
        max_keep_ckpts=1,
    ),
)
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
