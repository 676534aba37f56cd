# From-scratch CPU schedule for the toy set: iteration based, AdamW with
# warm-up and cosine decay (SGD converges far slower from scratch), one
# validation at the end, checkpoints kept small.
_base_ = ['mmdet::_base_/default_runtime.py', '../../_base_/cpwc_runtime.py']

max_iters = 1000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10.0, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=50,
        end=max_iters,
        eta_min_ratio=0.01,
    ),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(
        type='mmdet.AtomicCheckpointHook',
        by_epoch=False,
        interval=200,
        max_keep_ckpts=2,
    ),
)
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=4)
