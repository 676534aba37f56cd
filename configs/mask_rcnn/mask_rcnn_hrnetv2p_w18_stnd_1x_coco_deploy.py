# Deploy form of mask_rcnn_hrnetv2p_w18_stnd_1x_coco.py: plain convs, HRNet's cost.
# Weights: tools/model_converters/reparameterize_model.py converts a trained
# checkpoint of the train-form config into one for this config.
_base_ = './mask_rcnn_hrnetv2p_w18_stnd_1x_coco.py'
model = dict(backbone=dict(deploy=True))
