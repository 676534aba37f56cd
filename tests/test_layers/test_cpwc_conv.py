import pytest
import torch
from mmcv.cnn import build_conv_layer

from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.ops import group_members
from cpwc_mmdet.ops.spec_reference import context_unit_spec
from tests.helpers import CPWC_CASES, cpwc_reference_forward


@pytest.mark.parametrize('c,z', CPWC_CASES)
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize(
    'stage2,pwc', [(True, True), (False, True), (True, False)]
)
def test_matches_slow_group_loop(c, z, stride, stage2, pwc):
    layer = CPWConv2d(c, z, stride=stride, stage2=stage2, pwc=pwc)
    x = torch.randn(2, c, 9, 10)
    out = layer(x)
    assert out.shape == (
        2,
        z,
        (9 + stride - 1) // stride,
        (10 + stride - 1) // stride,
    )
    torch.testing.assert_close(
        out, cpwc_reference_forward(layer, x), atol=1e-5, rtol=1e-4
    )


@pytest.mark.parametrize('c,z', CPWC_CASES)
@pytest.mark.parametrize('stride', [1, 2])
def test_same_shape_as_the_pointwise_conv_it_replaces(c, z, stride):
    x = torch.randn(1, c, 13, 8)
    plain = torch.nn.Conv2d(c, z, 1, stride, bias=False)
    assert CPWConv2d(c, z, stride=stride)(x).shape == plain(x).shape


@pytest.mark.parametrize('c,z', CPWC_CASES)
@pytest.mark.parametrize('stage2', [True, False])
def test_parameter_count_is_the_spec(c, z, stage2):
    layer = CPWConv2d(c, z, stage2=stage2)
    stage1 = sum(p.numel() for p in layer.stage1.parameters())
    assert stage1 == 9 * sum(len(g) for g in group_members(c, z))
    expected = c * z + stage1 + (9 * z if stage2 else 0)
    assert sum(p.numel() for p in layer.parameters()) == expected


def test_paper_example_256_to_64():
    # Sec. 2: "a total of 19,264 parameters (stage 1 + stage 2 + PWC)".
    assert sum(p.numel() for p in CPWConv2d(256, 64).parameters()) == 19264


@pytest.mark.parametrize('c,z', [(7, 3), (3, 7), (10, 4)])
def test_every_parameter_gets_a_finite_gradient(c, z):
    layer = CPWConv2d(c, z, stride=2, bias=True)
    layer(torch.randn(2, c, 8, 8)).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_pwc_false_has_no_1x1_path():
    layer = CPWConv2d(8, 4, pwc=False)
    assert layer.pwc is None
    with pytest.raises(AttributeError):
        layer.weight


def test_builds_through_mmcv_conv_cfg():
    layer = build_conv_layer(
        dict(type='CPWConv2d', stage2=False),
        16,
        8,
        kernel_size=1,
        stride=2,
        bias=False,
    )
    assert isinstance(layer, CPWConv2d) and layer.stage2 is None
    assert layer(torch.randn(1, 16, 8, 8)).shape == (1, 8, 4, 4)


@pytest.mark.parametrize('stride', [1, 2, (2, 2)])
def test_geometry_reads_back_as_nn_conv2d_does(stride):
    layer = CPWConv2d(8, 4, stride=stride)
    plain = torch.nn.Conv2d(8, 4, 1, stride=stride)
    for attr in ('kernel_size', 'stride', 'padding', 'dilation', 'groups'):
        assert getattr(layer, attr) == getattr(plain, attr), attr


@pytest.mark.parametrize('c,z', CPWC_CASES)
@pytest.mark.parametrize('stride', [1, 2])
def test_ops_spec_reference_is_the_spec(c, z, stride):
    """``ops.spec_reference`` (the reference gpu_check.py uses, on the op's
    arguments) equals the spec's loop over the layer's own convs."""
    layer = CPWConv2d(c, z, stride=stride)
    x = torch.randn(2, c, 7, 6)
    w2 = layer.stage2.weight
    got = context_unit_spec(
        x, layer.pwc(x), layer.stage1_kernels(), w2, layer.segment_rows, stride
    )
    torch.testing.assert_close(
        got, cpwc_reference_forward(layer, x), atol=1e-5, rtol=1e-4
    )
