"""CoCBackbone turns every k>1 conv of any backbone into coc / stnd / orth;
around mmpretrain's HRNet it is CoCHRNet's network (same keys, same output)
with the tuple output mmpretrain's HRFuseScales neck needs."""

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

from cpwc_mmdet.conversion import build_conversion, is_spatial
from tests.helpers import HRNET_TINY, randomise_norms, spec


@pytest.fixture(autouse=True)
def mmdet_scope():
    """mmdet's registries, whatever scope an earlier test left current."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def wrapped_hrnet(conv_type):
    return MODELS.build(
        dict(
            type='CoCBackbone',
            conversion=spec(conv_type),
            backbone=dict(type='mmpretrain.HRNet', extra=HRNET_TINY),
        )
    )


@pytest.mark.parametrize('conv_type', ['coc', 'stnd', 'orth'])
def test_wrapped_mmpretrain_hrnet_is_coc_hrnet(conv_type):
    plain = PRETRAIN_MODELS.build(
        dict(type='mmpretrain.HRNet', extra=HRNET_TINY)
    )
    wrapped = wrapped_hrnet(conv_type)
    direct = MODELS.build(
        dict(type='CoCHRNet', conversion=spec(conv_type), extra=HRNET_TINY)
    )
    assert type(wrapped) is type(plain)  # mmpretrain's HRNet, converted
    layer = build_conversion(spec(conv_type)).layer_class
    assert (
        sum(isinstance(m, layer) for m in wrapped.modules())
        == sum(is_spatial(m) for m in plain.modules())
        > 0
    )
    assert not any(is_spatial(m) for m in wrapped.modules())
    own, theirs = wrapped.state_dict(), direct.state_dict()
    assert {k: v.shape for k, v in own.items()} == {
        k: v.shape for k, v in theirs.items()
    }
    randomise_norms(wrapped)
    direct.load_state_dict(wrapped.state_dict())  # strict
    wrapped.eval()
    direct.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        outs = wrapped(x)
        assert isinstance(outs, tuple) and len(outs) == 4
        for ours, mmdet_out in zip(outs, direct(x)):
            torch.testing.assert_close(ours, mmdet_out)


def test_classifier_with_hr_fuse_scales():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = PRETRAIN_MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(
                    type='mmdet.CoCBackbone',
                    conversion=dict(type='CoC'),
                    backbone=dict(type='mmpretrain.HRNet', extra=HRNET_TINY),
                ),
                neck=[
                    dict(
                        type='HRFuseScales',
                        in_channels=(8, 16, 32, 64),
                        out_channels=32,
                    ),
                    dict(type='GlobalAveragePooling'),
                ],
                head=dict(type='LinearClsHead', num_classes=3, in_channels=32),
            )
        )
    logits = classifier(torch.rand(2, 3, 32, 32), mode='tensor')
    assert logits.shape == (2, 3)
    logits.sum().backward()
    image = classifier.backbone.conv1.weight_image
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match='^conversion type must be one of'):
        MODELS.build(
            dict(
                type='CoCBackbone',
                conversion=dict(type='ws'),
                backbone=dict(type='ResNet', depth=18),
            )
        )
    with pytest.raises(ValueError, match='backbone'):
        MODELS.build(dict(type='CoCBackbone', backbone='ResNet'))
