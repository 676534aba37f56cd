"""CPWCBackbone turns every 1x1 conv of any mmdet backbone into CPWC."""

import pytest
import torch
from mmdet.registry import MODELS

from cpwc_mmdet.conversion import is_pointwise
from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.utils.census import count_params
from tests.helpers import HRNET_W18

BACKBONES = {
    'ResNeXt': dict(type='ResNeXt', depth=50, groups=32, base_width=4),
    'RegNet': dict(type='RegNet', arch='regnetx_400mf'),
    'MobileNetV2': dict(type='MobileNetV2', out_indices=(1, 2, 4, 7)),
    'HRNet': dict(type='HRNet', extra=HRNET_W18),
}


def context_params(model, stage2=True):
    """The spec's closed form: each 1x1 conv C -> Z gains 9 * sum|G(z)| =
    9 * max(C, Z) (stage 1) and 9 * Z (stage 2)."""
    return sum(
        9 * max(m.in_channels, m.out_channels)
        + (9 * m.out_channels if stage2 else 0)
        for m in model.modules()
        if is_pointwise(m)
    )


def outputs(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize('name', sorted(BACKBONES))
@pytest.mark.parametrize('stage2', [True, False])
def test_wrapped_backbone(name, stage2):
    plain = MODELS.build(BACKBONES[name])
    model = MODELS.build(
        dict(
            type='CPWCBackbone',
            backbone=BACKBONES[name],
            conversion=dict(type='CPWC', stage2=stage2),
        )
    )
    assert type(model) is type(plain)
    num_pointwise = sum(is_pointwise(m) for m in plain.modules())
    assert (
        sum(isinstance(m, CPWConv2d) for m in model.modules())
        == num_pointwise
        > 0
    )
    assert count_params(model) - count_params(plain) == context_params(
        plain, stage2
    )
    x = torch.rand(1, 3, 64, 64)
    assert [o.shape for o in outputs(model, x)] == [
        o.shape for o in outputs(plain, x)
    ]


def test_wrapped_resnet_equals_cpwc_resnet():
    wrapped = MODELS.build(
        dict(type='CPWCBackbone', backbone=dict(type='ResNet', depth=50))
    )
    direct = MODELS.build(dict(type='CPWCResNet', depth=50))
    assert wrapped.state_dict().keys() == direct.state_dict().keys()
    assert count_params(wrapped) == count_params(direct) == 24_001_088


def test_wrapped_frozen_stages_cover_the_new_layers():
    model = MODELS.build(
        dict(
            type='CPWCBackbone',
            backbone=dict(
                type='ResNeXt',
                depth=50,
                groups=32,
                base_width=4,
                frozen_stages=1,
            ),
        )
    )
    assert all(not p.requires_grad for p in model.layer1.parameters())
    assert any(isinstance(m, CPWConv2d) for m in model.layer1.modules())
