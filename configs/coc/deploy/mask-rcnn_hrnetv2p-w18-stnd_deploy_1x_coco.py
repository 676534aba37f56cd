# Deploy form of ../mask-rcnn_hrnetv2p-w18-stnd_1x_coco.py:
# plain convs, HRNet-W18's modules and cost.
# Weights: tools/model_converters/reparameterize_model.py converts a trained
# checkpoint of the train-form config into one for this config.
_base_ = '../mask-rcnn_hrnetv2p-w18-stnd_1x_coco.py'

model = dict(backbone=dict(deploy=True))
