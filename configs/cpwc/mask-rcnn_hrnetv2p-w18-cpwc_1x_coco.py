# Mask R-CNN HRNetV2p-W18-CPWC 1x: every 1x1 conv of HRNet (Bottleneck,
# downsample, fuse layers) is CPWC, through CPWCBackbone, which keeps HRNet's
# own class and state-dict keys. Not in the CoC poster: a side-by-side row
# with configs/coc/.
# Baseline: mmdet::hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py.
# Weights: an ImageNet-trained CPWC HRNet-W18; set
# model.backbone.backbone.init_cfg.checkpoint=PATH.
# Make it: python tools/pretrain.py configs/cpwc/hrnet-w18-cpwc_8xb32_in1k.py,
# then tools/model_converters/pretrain_to_detector.py CKPT
# checkpoints/hrnetv2_w18_cpwc_imagenet.pth --config THIS_CONFIG (checks every
# key and the normalisation).
_base_ = 'mmdet::hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py'
custom_imports = dict(imports=['cpwc_mmdet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='CPWCBackbone',
        cpwc_cfg=dict(stage2=True, pwc=True),
        backbone=dict(
            type='HRNet',
            extra=dict(
                stage1=dict(
                    num_modules=1,
                    num_branches=1,
                    block='BOTTLENECK',
                    num_blocks=(4,),
                    num_channels=(64,),
                ),
                stage2=dict(
                    num_modules=1,
                    num_branches=2,
                    block='BASIC',
                    num_blocks=(4, 4),
                    num_channels=(18, 36),
                ),
                stage3=dict(
                    num_modules=4,
                    num_branches=3,
                    block='BASIC',
                    num_blocks=(4, 4, 4),
                    num_channels=(18, 36, 72),
                ),
                stage4=dict(
                    num_modules=3,
                    num_branches=4,
                    block='BASIC',
                    num_blocks=(4, 4, 4, 4),
                    num_channels=(18, 36, 72, 144),
                ),
            ),
            init_cfg=dict(
                type='Pretrained',
                checkpoint='checkpoints/hrnetv2_w18_cpwc_imagenet.pth',
                prefix='backbone.',
            ),
        ),
    )
)
