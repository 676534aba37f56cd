"""The conversion spec (cpwc_mmdet.conversion.specs) and the model surgery
that applies it (cpwc_mmdet.conversion.surgery)."""

import pytest
import torch
import torch.nn as nn

from cpwc_mmdet.conversion import (
    CONVERSIONS,
    attached_children,
    build_conversion,
    convert,
    converted_module_names,
    reparameterize,
    switch_model_to_deploy,
)
from cpwc_mmdet.layers import CoCConv2d, CPWConv2d, OrthConv2d, StndConv2d


def small_net():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 1),
        nn.Sequential(
            nn.Conv2d(16, 16, 3, padding=1, groups=4),
            nn.Conv2d(16, 4, 1, stride=2, bias=True),
        ),
    )


def test_the_registry_holds_the_four_methods():
    assert sorted(CONVERSIONS.module_dict) == ['CPWC', 'CoC', 'orth', 'stnd']


def test_pointwise_conversion_keeps_geometry_and_counts():
    net = small_net()
    assert convert(net, dict(type='CPWC')) == 2
    assert convert(net, dict(type='CPWC')) == 0  # nothing left to convert
    layer = net[3][1]
    assert isinstance(layer, CPWConv2d)
    assert (layer.in_channels, layer.out_channels) == (16, 4)
    assert layer.stride == (2, 2) and layer.pwc.bias is not None
    assert converted_module_names(net) == ['2', '3.1']
    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 4, 4, 4)


def test_the_spec_reaches_the_layer():
    net = small_net()
    convert(net, dict(type='CPWC', stage2=False, pwc=False))
    assert net[2].stage2 is None and net[2].pwc is None
    net = small_net()
    convert(net, dict(type='CoC', sa=3, orth=False))
    assert net[0].sa == 3 and net[0].weight_norm is None


@pytest.mark.parametrize(
    'kind,cls',
    [('CoC', CoCConv2d), ('stnd', StndConv2d), ('orth', OrthConv2d)],
)
def test_spatial_conversion_then_reparameterize_round_trip(kind, cls):
    net = small_net()
    assert convert(net, dict(type=kind)) == 2
    assert isinstance(net[0], cls) and isinstance(net[3][0], cls)
    assert net[3][0].groups == 4
    x = torch.rand(2, 3, 8, 8)
    expected = net.eval()(x)
    assert switch_model_to_deploy(net) == 2
    assert type(net[0]) is nn.Conv2d and type(net[3][0]) is nn.Conv2d
    torch.testing.assert_close(net(x), expected, atol=1e-5, rtol=1e-4)
    assert reparameterize(net) == 0


@pytest.mark.parametrize(
    'spec,message',
    [
        ('CPWC', r'^conversion must be a dict with a type \(CPWC, CoC'),
        (dict(stage2=False), '^conversion must be a dict with a type'),
        (dict(type='dcn'), "^conversion type must be one of .*, got 'dcn'"),
        (
            dict(type='CoC', sb=2),
            r"^conversion CoC: unknown arguments \['sb'\] \(CoCConv2d takes",
        ),
        (
            dict(type='CPWC', stage3=True),
            r"^conversion CPWC: unknown arguments \['stage3'\]",
        ),
        (dict(type='CPWC', stage2='no'), '^stage2 must be True or False'),
        (dict(type='CoC', sa=1), '^sa must be an int >= 2'),
        (dict(type='CoC', sk_plus=3), '^sk_plus must be an even int'),
    ],
)
def test_the_layer_validates_the_spec_in_one_line(spec, message):
    """A bad spec fails when it is built, with the layer's own message."""
    with pytest.raises((ValueError, TypeError), match=message):
        build_conversion(spec)


def test_block_plugins_are_attached_not_converted():

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(4, 4, 1)
            self.gen_attention = nn.Sequential(nn.Conv2d(4, 4, 1))
            self.after_conv1_plugin_names = ['gen_attention']

    block = Block()
    assert attached_children(block) == {'gen_attention'}
    assert convert(block, dict(type='CPWC')) == 1
    assert type(block.gen_attention[0]) is nn.Conv2d


def test_converted_layers_are_never_converted_again():
    net = small_net()
    convert(net, dict(type='CPWC'))
    # a CPWConv2d's 1x1 path and 3x3 stage-1 convs are not own convs
    assert convert(net, dict(type='CoC')) == 2
    assert all(type(m) is nn.Conv2d for m in net[2].stage1)
    assert type(net[2].pwc) is nn.Conv2d


class ReinitConv2d(nn.Conv2d):
    """A conv_cfg-style subclass that only changes its initialisation."""

    def reset_parameters(self):
        nn.init.zeros_(self.weight)


@pytest.mark.parametrize('kind', ['CPWC', 'CoC', 'stnd', 'orth'])
def test_a_subclass_that_computes_as_conv2d_is_converted(kind):
    net = nn.Sequential(ReinitConv2d(3, 8, 3), ReinitConv2d(8, 8, 1))
    assert convert(net, dict(type=kind)) == 1


@pytest.mark.parametrize('spec', ['CPWC', 'CoC', 'orth'])
def test_a_subclass_with_its_own_forward_is_refused_by_name(spec):
    from mmcv.cnn import ConvWS2d
    from mmcv.cnn.bricks.wrappers import Conv2d as EmptyInputConv2d

    for cls in (ConvWS2d, EmptyInputConv2d):
        net = nn.Sequential(nn.Sequential(cls(3, 8, 3), cls(8, 8, 1)))
        shape = '0.1' if spec == 'CPWC' else '0.0'
        with pytest.raises(ValueError) as err:
            convert(net, dict(type=spec))
        message = str(err.value)
        assert message.startswith(
            f'conversion {spec}: {shape} is a {cls.__module__}.'
            f'{cls.__qualname__} (a conv_cfg type)'
        )
        assert 'conv_cfg=None' in message and '\n' not in message
        assert not converted_module_names(net)  # nothing half-converted


def test_stnd_converts_mmcv_convws_with_its_eps():
    from mmcv.cnn import ConvWS2d

    net = nn.Sequential(ConvWS2d(3, 8, 3, eps=1e-3), ConvWS2d(8, 8, 1))
    x = torch.rand(2, 3, 8, 8)
    expected = net(x)
    state = net.state_dict()
    assert convert(net, dict(type='stnd')) == 1
    assert type(net[0]) is StndConv2d and net[0].eps == 1e-3
    assert type(net[1]) is ConvWS2d  # 1x1: not the method's shape
    net.load_state_dict(state)
    torch.testing.assert_close(net(x), expected, rtol=0, atol=0)


def test_a_conversion_that_matches_nothing_is_an_error():
    from cpwc_mmdet.backbones.converted import convert_backbone

    with pytest.raises(
        ValueError,
        match='^Sequential: conversion CoC found '
        'none of its convs with a kernel larger than 1x1',
    ):
        convert_backbone(
            nn.Sequential(nn.Conv2d(3, 4, 1)),
            build_conversion(dict(type='CoC')),
        )
    deployed = convert_backbone(  # the deploy form converts nothing
        nn.Sequential(nn.Conv2d(3, 4, 1)),
        build_conversion(dict(type='CoC')),
        deploy=True,
    )
    assert not converted_module_names(deployed)
