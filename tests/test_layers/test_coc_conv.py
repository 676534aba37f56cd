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
