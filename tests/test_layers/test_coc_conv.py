import itertools

import pytest
import torch

from cpwc_mmdet.conversion import reparameterize
from cpwc_mmdet.layers import CoCConv2d
from cpwc_mmdet.layers.coc_conv import DILATED_SUPER_KERNELS
from cpwc_mmdet.ops.coc_layout import image_to_kernels, kernels_to_image
from tests.helpers import randomise_norms

TOL = dict(atol=1e-5, rtol=1e-4)


def assert_deploy_equivalent(conv, x):
    randomise_norms(conv).eval()
    with torch.no_grad():
        expected = conv(x)
        plain = conv.to_plain_conv()
        assert type(plain) is torch.nn.Conv2d
        torch.testing.assert_close(plain(x), expected, **TOL)
        net = torch.nn.Sequential(conv)
        assert reparameterize(net) == 1
        assert reparameterize(net) == 0  # idempotent
        torch.testing.assert_close(net(x), expected, **TOL)
    assert type(net[0]) is torch.nn.Conv2d
    return plain, net[0]


@pytest.mark.parametrize(
    'k,co,sk_plus,dilat',
    [
        (k, co, skp, dil)
        for k, co, skp, dil in itertools.product(
            (3, 5, 7), (4, 18, 64), (0, 2, 4), (True, False)
        )
    ],
)
def test_train_form_equals_deploy_form(k, co, sk_plus, dilat):
    ci = 6
    conv = CoCConv2d(ci, co, k, padding=k // 2, sk_plus=sk_plus, dilat=dilat)
    plain, swapped = assert_deploy_equivalent(conv, torch.randn(2, ci, 11, 11))
    assert (
        sum(p.numel() for p in swapped.parameters())
        == sum(p.numel() for p in plain.parameters())
        == co * ci * k * k + co
    )


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(stride=2, padding=1),
        dict(stride=1, padding=2, dilation=2),
        dict(stride=2, padding=0, groups=2),
        dict(padding=1, groups=4, bias=False),
        dict(padding=1, skip=False, stnd=False, orth=False),
        dict(padding=1, sa=3),
    ],
)
def test_conv_settings_survive_deploy(kwargs):
    conv = CoCConv2d(8, 12, 3, **kwargs)
    plain, _ = assert_deploy_equivalent(conv, torch.randn(2, 8, 12, 12))
    for attr in ('stride', 'padding', 'dilation', 'groups'):
        assert getattr(plain, attr) == getattr(conv, attr)


def test_deploy_module_has_a_plain_conv_parameters_only():
    conv = CoCConv2d(8, 18, 3, padding=1).to_plain_conv()
    shapes = {n: tuple(p.shape) for n, p in conv.named_parameters()}
    assert shapes == {'weight': (18, 8, 3, 3), 'bias': (18,)}
    assert not hasattr(CoCConv2d(8, 18, 3), 'switch_to_deploy')  # one route


def test_gradients_reach_image_super_kernel_and_both_norms():
    conv = randomise_norms(CoCConv2d(6, 18, 3, padding=1))
    conv(torch.randn(2, 6, 7, 7)).square().sum().backward()
    for name in (
        'weight_image',
        'super_kernel',
        'super_norm.weight',
        'super_norm.bias',
        'weight_norm.weight',
        'weight_norm.bias',
        'bias',
    ):
        grad = dict(conv.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name


@pytest.mark.parametrize('sa', [2, 3])
def test_kernel_j_goes_to_tile_j_div_sa_j_mod_sa(sa):
    k, ci = 3, 2
    co = 2 * sa * sa
    weight = torch.zeros(co, ci, k, k)
    for j in range(co):
        weight[j] = j + 1  # every kernel is filled with its own index
    image = kernels_to_image(weight, sa)
    assert image.shape == (ci, co // sa**2, sa * k, sa * k)
    for j in range(co):
        group, pos = divmod(j, sa * sa)
        row, col = pos // sa, pos % sa
        tile = image[
            :, group, row * k : (row + 1) * k, col * k : (col + 1) * k
        ]
        assert torch.equal(tile, torch.full_like(tile, j + 1))
    torch.testing.assert_close(image_to_kernels(image, sa, co), weight)


def test_padded_rows_are_zero_and_dropped():
    weight = torch.randn(18, 3, 3, 3)
    image = kernels_to_image(weight, 2)
    assert image.shape == (3, 5, 6, 6)
    assert torch.equal(image[:, 4, 3:, 3:], torch.zeros(3, 3, 3))  # kernel 19
    assert torch.equal(image_to_kernels(image, 2, 18), weight)


def test_super_kernel_table():
    conv = CoCConv2d(4, 4, 3, padding=1)
    assert (conv.super_size, conv.super_dilation) == (3, 2)
    for (k, skp), (size, dil) in DILATED_SUPER_KERNELS.items():
        conv = CoCConv2d(4, 4, k, sk_plus=skp)
        assert tuple(conv.super_kernel.shape[2:]) == (size, size)
        assert conv.super_dilation == dil
    assert CoCConv2d(4, 4, 3, dilat=False).super_kernel.shape[2:] == (5, 5)


def test_reparameterize_replaces_with_nn_conv2d():
    net = torch.nn.Sequential(
        CoCConv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        CoCConv2d(8, 8, 5, padding=2),
    )
    x = torch.randn(1, 3, 10, 10)
    expected = net.eval()(x)
    assert reparameterize(net) == 2
    assert [type(m) for m in net] == [
        torch.nn.Conv2d,
        torch.nn.ReLU,
        torch.nn.Conv2d,
    ]
    torch.testing.assert_close(net(x), expected, **TOL)
    assert reparameterize(net) == 0


def output_gain(conv, in_channels):
    """std(conv(x)) / std(x) for a unit Gaussian x (32x32, so the zero
    padding's border barely counts)."""
    x = torch.randn(2, in_channels, 32, 32)
    with torch.no_grad():
        return float(conv(x).std() / x.std())


@pytest.mark.parametrize(
    'ci,co,k,kwargs',
    [
        (64, 64, 3, {}),
        (128, 128, 3, {}),  # the gain of a standardised kernel grows as
        (3, 64, 7, {}),  # sqrt(fan_in): 24 / 34 / 11 at these shapes
        (64, 64, 3, dict(orth=False)),
        (64, 64, 3, dict(orth=False, skip=False)),
        (64, 18, 3, dict(sa=3, orth=False)),
        (32, 32, 3, dict(groups=4)),
        (32, 32, 5, dict(dilat=False, stnd=False)),
    ],
)
def test_starts_at_a_kaiming_convs_gain(ci, co, k, kwargs):
    """From scratch the derived weight has He's std sqrt(2 / fan_in), so
    the layer's gain is a Kaiming conv's (sqrt(2) on Gaussian inputs), not
    the sqrt(fan_in) of a standardised weight."""
    conv = CoCConv2d(ci, co, k, padding=k // 2, bias=False, **kwargs)
    fan_in = ci // conv.groups * k * k
    weight = conv.deploy_weight().detach()
    rms = float(weight.square().mean().sqrt())
    tolerance = 1e-3 if conv.orth else 1e-2
    assert rms == pytest.approx((2 / fan_in) ** 0.5, rel=tolerance)
    kaiming = torch.nn.Conv2d(
        ci, co, k, padding=k // 2, bias=False, groups=conv.groups
    )
    torch.nn.init.kaiming_normal_(kaiming.weight, nonlinearity='relu')
    gain = output_gain(conv, ci)
    assert gain == pytest.approx(output_gain(kaiming, ci), rel=0.1)
    assert 1.2 < gain < 1.5


def test_only_the_starting_gain_differs_from_the_release_init():
    """The LayerNorms start at the release's 1 / 0 except the last gain;
    with those values the layer computes the standardised weight."""
    conv = CoCConv2d(16, 16, 3, padding=1)
    target = (2 / (16 * 9)) ** 0.5
    torch.testing.assert_close(
        conv.weight_norm.weight, torch.full((16, 3, 3), target)
    )
    assert not conv.weight_norm.bias.any()
    assert (conv.super_norm.weight == 1).all()
    assert not conv.super_norm.bias.any()
    with torch.no_grad():
        scaled = conv.deploy_weight()
        conv.weight_norm.weight.fill_(1)
        torch.testing.assert_close(conv.deploy_weight() * target, scaled)
