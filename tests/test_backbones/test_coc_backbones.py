import pytest
import torch
from mmdet.models.backbones import HRNet, ResNet
from mmdet.registry import MODELS

from cpwc_mmdet.backbones import CoCHRNet, CoCResNet
from cpwc_mmdet.layers import CoCConv2d, OrthConv2d, StndConv2d
from cpwc_mmdet.utils.census import count_params
from tests.helpers import HRNET_W18, calibrate_then_randomise_norms, spec

LAYER = {'coc': CoCConv2d, 'stnd': StndConv2d, 'orth': OrthConv2d}


def module_types(model):
    return [(n, type(m)) for n, m in model.named_modules() if n]


def spatial_conv_names(model):
    return sorted(
        n
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d) and max(m.kernel_size) > 1
    )


def assert_train_equals_deploy(model, x):
    calibrate_then_randomise_norms(model, x)
    with torch.no_grad():
        expected = model(x)
        assert all(torch.isfinite(e).all() for e in expected)
        model.switch_to_deploy()
        model.switch_to_deploy()
        for got, want in zip(model(x), expected):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('conv_type', ['coc', 'stnd', 'orth'])
def test_coc_resnet50_replaces_kxk_convs_and_deploys_to_resnet50(conv_type):
    plain = ResNet(depth=50)
    model = MODELS.build(
        dict(
            type='CoCResNet',
            depth=50,
            conversion=spec(conv_type),
            norm_eval=False,
        )
    )
    replaced = sorted(
        n for n, m in model.named_modules() if isinstance(m, LAYER[conv_type])
    )
    assert replaced == spatial_conv_names(plain)
    assert len(replaced) == 1 + 16
    assert_train_equals_deploy(model, torch.rand(2, 3, 64, 64))
    assert count_params(model) == 23_508_032
    assert module_types(model) == module_types(plain)
    assert model.state_dict().keys() == plain.state_dict().keys()


def test_deploy_config_builds_plain_modules():
    model = CoCResNet(depth=50, deploy=True)
    assert module_types(model) == module_types(ResNet(depth=50))


def test_coc_hrnet_w18_deploys_to_hrnet_w18():
    plain = HRNet(extra=HRNET_W18)
    model = CoCHRNet(extra=HRNET_W18, norm_eval=False)
    replaced = sorted(
        n for n, m in model.named_modules() if isinstance(m, CoCConv2d)
    )
    assert replaced == spatial_conv_names(plain)
    assert_train_equals_deploy(model, torch.rand(1, 3, 64, 64))
    assert count_params(model) == count_params(plain)
    assert module_types(model) == module_types(plain)


def test_frozen_stages_freeze_coc_layers():
    model = CoCResNet(depth=18, frozen_stages=1)
    model.train()
    for m in (model.conv1, model.layer1):
        assert all(not p.requires_grad for p in m.parameters())
    assert isinstance(model.conv1, CoCConv2d)
    assert all(p.requires_grad for p in model.layer2.parameters())


def test_the_spec_reaches_the_layers():
    model = CoCResNet(
        depth=18, conversion=dict(type='CoC', sk_plus=4, orth=False)
    )
    layer = model.layer1[0].conv1
    assert layer.sk_plus == 4 and layer.weight_norm is None
