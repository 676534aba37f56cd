# Deploy form of ../retinanet_r50-stnd_fpn_1x_coco.py:
# plain convs, ResNet-50's modules and cost.
# Weights: tools/model_converters/reparameterize_model.py converts a trained
# checkpoint of the train-form config into one for this config.
_base_ = '../retinanet_r50-stnd_fpn_1x_coco.py'

model = dict(backbone=dict(deploy=True))
