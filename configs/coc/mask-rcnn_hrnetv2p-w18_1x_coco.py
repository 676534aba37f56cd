# Mask R-CNN HRNetV2p-W18 1x, CoC poster row 5 (COCO val mask AP 33.9): the
# baseline of the stnd / orth / coc rows. mmdet's config
# (mmdet::hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py) whose backbone starts
# from ./hrnet-w18_8xb32_in1k.py, the recipe the rows' own backbones are
# pretrained with, instead of MSRA's HRNetV2-W18, so the rows differ only by
# the layer. Same normalisation as that pretraining (RGB, mean [123.675,
# 116.28, 103.53], std [58.395, 57.12, 57.375]).
# Make it: python tools/pretrain.py configs/coc/hrnet-w18_8xb32_in1k.py, then
# tools/model_converters/pretrain_to_detector.py CKPT
# checkpoints/hrnet-w18_in1k_det.pth --config THIS_CONFIG (checks every key
# and the normalisation).
_base_ = [
    'mmdet::hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py',
    '../_base_/cpwc_runtime.py',
]
default_hooks = dict(checkpoint=dict(type='mmdet.AtomicCheckpointHook'))

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/hrnet-w18_in1k_det.pth',
            prefix='backbone.',
        )
    )
)
