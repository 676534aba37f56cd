"""The C4 shared RoI heads: SlimResLayer and CPWCResLayer."""

import torch
from mmdet.models.roi_heads.shared_heads import ResLayer
from mmdet.registry import MODELS

from cpwc_mmdet.roi_heads import SlimResLayer
from tests.helpers import cpwc_names, pointwise_names


def test_shared_head_res_layer():
    plain = ResLayer(depth=50, stage=3, stride=1)
    head = MODELS.build(dict(type='CPWCResLayer', depth=50, stage=3, stride=1))
    assert cpwc_names(head) == pointwise_names(plain)
    head.eval()
    assert head(torch.rand(3, 1024, 7, 7)).shape == (3, 2048, 7, 7)


def test_slim_res_layer_at_width_64_is_mmdet_res_layer():
    plain = ResLayer(depth=50, stage=3, stride=1, style='caffe')
    slim = SlimResLayer(depth=50, stage=3, stride=1, style='caffe')
    assert [(n, type(m)) for n, m in slim.named_modules() if n] == [
        (n, type(m)) for n, m in plain.named_modules() if n
    ]
    assert {k: v.shape for k, v in slim.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }
    narrow = SlimResLayer(depth=50, stage=3, stride=2, base_channels=16)
    narrow.eval()
    assert narrow(torch.rand(2, 256, 8, 8)).shape == (2, 512, 4, 4)
