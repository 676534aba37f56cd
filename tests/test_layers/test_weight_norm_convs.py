import pytest
import torch
from mmcv.cnn import ConvWS2d

from cpwc_mmdet.conversion import reparameterize
from cpwc_mmdet.layers import OrthConv2d, StndConv2d
from tests.helpers import randomise_norms


@pytest.mark.parametrize('cls', [StndConv2d, OrthConv2d])
@pytest.mark.parametrize(
    'kwargs',
    [
        dict(padding=1),
        dict(stride=2, padding=1, bias=True),
        dict(padding=2, dilation=2, groups=2),
    ],
)
def test_reparameterises_to_the_same_output(cls, kwargs):
    conv = randomise_norms(cls(4, 8, 3, **kwargs)).eval()
    x = torch.randn(2, 4, 9, 9)
    expected = conv(x)
    plain = conv.to_plain_conv()
    assert type(plain) is torch.nn.Conv2d
    torch.testing.assert_close(plain(x), expected, atol=1e-5, rtol=1e-4)


def test_stnd_is_mmcv_conv_ws():
    conv = StndConv2d(4, 8, 3, padding=1)
    reference = ConvWS2d(4, 8, 3, padding=1)
    reference.load_state_dict(conv.state_dict())
    x = torch.randn(1, 4, 6, 6)
    torch.testing.assert_close(conv(x), reference(x))


def test_orth_normalises_each_filter():
    """Each filter standardised, then scaled by the LayerNorm's gain,
    which starts at He's std sqrt(2 / fan_in) (a Kaiming conv's gain)."""
    conv = OrthConv2d(4, 8, 3)
    gain = (2 / (4 * 3 * 3)) ** 0.5
    torch.testing.assert_close(
        conv.weight_norm.weight, torch.full((4, 3, 3), gain)
    )
    weight = conv.deploy_weight()
    torch.testing.assert_close(
        weight.mean(dim=(1, 2, 3)), torch.zeros(8), atol=1e-5, rtol=0
    )
    raw_var = conv.weight.var(dim=(1, 2, 3), unbiased=False)
    eps = conv.weight_norm.eps
    torch.testing.assert_close(
        weight.var(dim=(1, 2, 3), unbiased=False),
        gain**2 * raw_var / (raw_var + eps),
    )


def test_orth_gradients_reach_weight_and_norm():
    conv = OrthConv2d(4, 8, 3)
    conv(torch.randn(2, 4, 6, 6)).square().sum().backward()
    for name, p in conv.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_reparameterize_on_a_mix():
    net = torch.nn.Sequential(StndConv2d(3, 4, 3), OrthConv2d(4, 4, 3))
    assert reparameterize(net) == 2
    assert all(type(m) is torch.nn.Conv2d for m in net)
