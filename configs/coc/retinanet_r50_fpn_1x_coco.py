# RetinaNet R-50-FPN 1x, CoC poster row 1 (COCO val box AP 36.3): the
# baseline of the stnd / orth / coc rows. mmdet's config
# (mmdet::retinanet/retinanet_r50_fpn_1x_coco.py) whose backbone starts from
# ./resnet50_8xb32_in1k.py, the recipe the rows' own backbones are
# pretrained with, instead of torchvision's ResNet-50, so the rows differ only
# by the layer. Same normalisation as that pretraining (mmdet's: pytorch
# style, RGB, mean [123.675, 116.28, 103.53], std [58.395, 57.12, 57.375]).
# Make it: python tools/pretrain.py configs/coc/resnet50_8xb32_in1k.py, then
# tools/model_converters/pretrain_to_detector.py CKPT
# checkpoints/resnet50_in1k_det.pth --config THIS_CONFIG (checks every key
# and the normalisation).
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    '../_base_/cpwc_runtime.py',
]
default_hooks = dict(checkpoint=dict(type='mmdet.AtomicCheckpointHook'))

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/resnet50_in1k_det.pth',
            prefix='backbone.',
        )
    )
)
