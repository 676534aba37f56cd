import pytest
import torch
import torch.nn.functional as F

from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.layers.cpwc_fusion import border_correction, compose_kernels
from tests.test_layers.test_cpwc_conv import CASES

TOL = dict(atol=1e-5, rtol=1e-4)


def two_stage(x, w1, w2):
    """y + s2(y), y = s1(x), for depthwise-like s1 (r = 1), zero padding."""
    y = F.conv2d(x, w1, padding=1, groups=w1.shape[0])
    return y + F.conv2d(y, w2, padding=1, groups=w2.shape[0])


def test_composed_kernel_is_exact_away_from_the_border():
    w1, w2 = torch.randn(5, 1, 3, 3), torch.randn(5, 1, 3, 3)
    x = torch.randn(2, 5, 12, 9)
    fused = F.conv2d(x, compose_kernels(w1, w2), padding=2, groups=5)
    expected = two_stage(x, w1, w2)
    torch.testing.assert_close(fused[..., 1:-1, 1:-1],
                               expected[..., 1:-1, 1:-1], **TOL)
    # ... and *not* on the border ring: the correction is needed
    assert not torch.allclose(fused, expected, **TOL)


def test_composed_kernel_of_an_impulse():
    w1 = torch.zeros(1, 1, 3, 3)
    w1[0, 0, 1, 1] = 1.0  # identity stage 1
    w2 = torch.randn(1, 1, 3, 3)
    kernel = compose_kernels(w1, w2)
    expected = torch.zeros(1, 1, 5, 5)
    expected[0, 0, 1:4, 1:4] = w2[0, 0]
    expected[0, 0, 2, 2] += 1.0
    torch.testing.assert_close(kernel, expected)


@pytest.mark.parametrize('h,w', [(1, 1), (1, 5), (5, 1), (2, 2), (7, 10)])
def test_border_correction_makes_the_fusion_exact(h, w):
    w1, w2 = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    x = torch.randn(2, 4, h, w)
    fused = F.conv2d(x, compose_kernels(w1, w2), padding=2, groups=4)
    border_correction(x, lambda s: F.conv2d(s, w1, groups=4), w2, fused)
    torch.testing.assert_close(fused, two_stage(x, w1, w2), **TOL)


@pytest.mark.parametrize('c,z', CASES)
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('stage2,pwc', [(True, True), (False, True),
                                        (True, False)])
@pytest.mark.parametrize('fold', [True, False])
def test_deploy_form_equals_train_form(c, z, stride, stage2, pwc, fold):
    layer = CPWConv2d(c, z, stride=stride, stage2=stage2, pwc=pwc)
    layer.eval()
    keys = layer.state_dict().keys()
    for size in ((9, 10), (1, 3)):
        x = torch.randn(2, c, *size)
        with torch.no_grad():
            expected = layer(x)
            layer.switch_to_deploy(fold_stage2=fold)
            layer.switch_to_deploy(fold_stage2=fold)  # idempotent
            torch.testing.assert_close(layer(x), expected, **TOL)
            assert (layer._fused is not None) == (fold and stride == 1
                                                  and stage2)
        layer.deploy = False
    assert layer.state_dict().keys() == keys


def test_train_form_gradients_survive_in_place_sums():
    layer = CPWConv2d(8, 4, bias=True)
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    layer(x).square().sum().backward()
    reference = x.grad.clone()
    x.grad = None
    out = (layer.pwc(x) + layer.forward_stage1(x) +
           layer.stage2(layer.forward_stage1(x)))
    out.square().sum().backward()
    torch.testing.assert_close(x.grad, reference)


def test_loading_weights_refreshes_the_folded_kernels():
    layer = CPWConv2d(8, 4)
    layer.eval()
    layer.switch_to_deploy(fold_stage2=True)
    layer(torch.randn(1, 8, 6, 6))  # folds
    other = CPWConv2d(8, 4)
    other.eval()
    layer.load_state_dict(other.state_dict())
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), other(x), **TOL)
