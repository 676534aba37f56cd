# cpwc_mmdet's runtime, added to every config of this project: the plugin's
# modules, and the hooks that keep a run safe (docs/safety.md):
# * NonFiniteLossHook: stop at the first NaN / inf loss on any rank, before
#   a checkpoint is written;
# * RNGStateHook: every rank's RNG states in each checkpoint, so a resumed
#   run repeats the original;
# * NormRecalibrationHook: BN statistics refitted where CoC (orth) was
#   inflated from a plain checkpoint.
# A config using it also sets default_hooks.checkpoint.type to
# 'mmdet.AtomicCheckpointHook' (atomic saves, rotation after the save): a
# base cannot, since its bases define default_hooks too. tools/train.py and
# tools/pretrain.py add all of these to any config that lacks them.
custom_imports = dict(imports=['cpwc_mmdet'], allow_failed_imports=False)
custom_hooks = [
    dict(type='mmdet.NonFiniteLossHook'),
    dict(type='mmdet.RNGStateHook'),
    dict(type='mmdet.NormRecalibrationHook'),
]
