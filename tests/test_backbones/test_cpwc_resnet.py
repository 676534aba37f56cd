import pytest
import torch
from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from cpwc_mmdet.backbones import CPWCResNet
from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.utils.census import count_params
from tests.helpers import cpwc_names, pointwise_names


@pytest.mark.parametrize('depth', [18, 50])
@pytest.mark.parametrize('style', ['pytorch', 'caffe'])
def test_every_pointwise_conv_is_replaced(depth, style):
    plain = ResNet(depth=depth, style=style)
    model = CPWCResNet(depth=depth, style=style)
    assert cpwc_names(model) == pointwise_names(plain)
    assert pointwise_names(model) == []  # no dense 1x1 conv left outside CPWC
    if depth == 50:
        assert len(cpwc_names(model)) == 16 * 2 + 4


def test_backbone_param_counts_of_the_paper():
    # 1000-class fc excluded: 25,557,032 - 2,049,000 = 23,508,032 etc.
    assert count_params(ResNet(depth=50)) == 23_508_032
    assert count_params(CPWCResNet(depth=50)) == 24_001_088
    assert (
        count_params(
            CPWCResNet(depth=50, conversion=dict(type='CPWC', stage2=False))
        )
        == 23_796_608
    )


@pytest.mark.parametrize(
    'kwargs,shapes',
    [
        (dict(), [(256, 16), (512, 8), (1024, 4), (2048, 2)]),
        (dict(style='caffe'), [(256, 16), (512, 8), (1024, 4), (2048, 2)]),
        (
            dict(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
            [(256, 16), (512, 8), (1024, 4), (2048, 4)],
        ),
        (
            dict(
                num_stages=3,
                strides=(1, 2, 2),
                dilations=(1, 1, 1),
                out_indices=(2,),
            ),
            [(1024, 4)],
        ),
        (
            dict(base_channels=16, deep_stem=True, avg_down=True),
            [(64, 16), (128, 8), (256, 4), (512, 2)],
        ),
    ],
)
def test_output_shapes_equal_mmdet_resnet(kwargs, shapes):
    model = CPWCResNet(depth=50, **kwargs)
    model.eval()
    outs = model(torch.rand(1, 3, 64, 64))
    assert [(o.shape[1], o.shape[2]) for o in outs] == shapes
    plain = ResNet(depth=50, **kwargs)
    plain.eval()
    assert [o.shape for o in outs] == [
        o.shape for o in plain(torch.rand(1, 3, 64, 64))
    ]


def test_registry_build_and_conversion():
    model = MODELS.build(
        dict(
            type='CPWCResNet',
            depth=50,
            conversion=dict(type='CPWC', stage2=False),
        )
    )
    assert isinstance(model, CPWCResNet)
    assert all(
        m.stage2 is None for m in model.modules() if isinstance(m, CPWConv2d)
    )


def test_frozen_stages_freeze_cpwc_layers_too():
    model = CPWCResNet(depth=50, frozen_stages=1)
    model.train()
    assert model.norm1.training is False
    for layer in [model.conv1, model.norm1]:
        for p in layer.parameters():
            assert p.requires_grad is False
    for m in model.layer1.modules():
        if isinstance(m, _BatchNorm):
            assert m.training is False
    assert all(not p.requires_grad for p in model.layer1.parameters())
    assert any(isinstance(m, CPWConv2d) for m in model.layer1.modules())
    assert all(p.requires_grad for p in model.layer2.parameters())


def test_norm_eval_keeps_bn_in_eval_mode():
    model = CPWCResNet(depth=50, norm_eval=True)
    model.train()
    assert all(
        not m.training for m in model.modules() if isinstance(m, _BatchNorm)
    )
    model = CPWCResNet(depth=50, norm_eval=False)
    model.train()
    assert all(
        m.training for m in model.modules() if isinstance(m, _BatchNorm)
    )


def test_zero_init_residual_survives():
    model = CPWCResNet(depth=50, zero_init_residual=True)
    model.init_weights()
    for block in model.layer1:
        assert torch.all(block.norm3.weight == 0)
    model = CPWCResNet(depth=50, zero_init_residual=False)
    model.init_weights()
    assert torch.all(model.layer1[0].norm3.weight == 1)


def test_with_cp_trains():
    model = CPWCResNet(depth=50, with_cp=True, base_channels=8)
    model.train()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    sum(o.sum() for o in model(x)).backward()
    assert all(
        p.grad is not None for p in model.parameters() if p.requires_grad
    )


def test_every_parameter_gets_a_gradient():
    model = CPWCResNet(depth=50, base_channels=8, norm_eval=False)
    model.train()
    sum(o.square().sum() for o in model(torch.rand(2, 3, 32, 32))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
