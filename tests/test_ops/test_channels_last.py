"""CPWC backbones take NCHW input from mmdet and still reach the fused
kernel: channels_last inside, NCHW outputs, same values."""
import pytest
import torch

from cpwc_mmdet.backbones import CPWCResNet
from cpwc_mmdet.roi_heads import CPWCResLayer
from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.ops import fused_context_available, fused_context_reason
from mmdet.registry import MODELS
from tests.helpers import run_counting_kernel_calls

needs_kernel = pytest.mark.skipif(not fused_context_available(),
                                  reason=str(fused_context_reason()))


def as_list(out):
    return [out] if isinstance(out, torch.Tensor) else list(out)


@needs_kernel
@pytest.mark.parametrize('build', [
    lambda: CPWCResNet(depth=50, out_indices=(0, 1, 2, 3)),
    lambda: MODELS.build(dict(
        type='CPWCBackbone', backbone=dict(type='RegNet', arch='regnetx_400mf',
                                           out_indices=(0, 1, 2, 3)))),
    lambda: CPWCResLayer(depth=50, stage=3, stride=1),
])
def test_nchw_inference_reaches_the_kernel_and_returns_nchw(build):
    model = build()
    model.eval()  # (mmdet's ResNet.train() returns None: no chaining)
    channels = 1024 if isinstance(model, CPWCResLayer) else 3
    x = torch.randn(2, channels, 32, 40)
    with torch.no_grad():
        model.channels_last_inference = False
        expected, calls_off = run_counting_kernel_calls(model, x)
        model.channels_last_inference = True
        out, calls_on = run_counting_kernel_calls(model, x)
    assert calls_off == 0
    assert calls_on == sum(isinstance(m, CPWConv2d) for m in model.modules())
    for o, e in zip(as_list(out), as_list(expected)):
        assert o.is_contiguous()  # NCHW, as the neck / RoI head expects
        torch.testing.assert_close(o, e, rtol=1e-4,
                                   atol=1e-4 * e.abs().max().item())


def test_training_and_channels_last_input_are_left_alone():
    model = CPWCResNet(depth=50, out_indices=(3,))
    x = torch.randn(2, 3, 64, 64)
    out = model(x)[0]  # gradients needed: no conversion
    assert out.requires_grad and out.is_contiguous()
    assert not getattr(model, '_channels_last_weights', False)
    model.eval()
    with torch.no_grad():  # the caller chose channels_last: keep it
        out = model(x.contiguous(memory_format=torch.channels_last))[0]
    assert out.is_contiguous(memory_format=torch.channels_last)
