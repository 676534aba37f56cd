# Toy Faster R-CNN R-50-CPWC C4: the main job (`make demo`). Backbone and
# shared head have every pointwise conv replaced by CPWC, as in Table 3.
_base_ = './faster-rcnn_r50_c4_toy.py'

conversion = dict(type='CPWC', stage2=True, pwc=True)
model = dict(
    backbone=dict(type='CPWCResNet', conversion=conversion),
    roi_head=dict(
        shared_head=dict(type='CPWCResLayer', conversion=conversion)
    ),
)
