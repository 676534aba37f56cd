"""CPWC-ResNet-50 in deploy form through the fused kernel equals its
train form on the PyTorch path (randomised BN, channels_last input)."""

import copy

import pytest
import torch

from cpwc_mmdet.backbones import CPWCResNet
from cpwc_mmdet.conversion import switch_model_to_deploy
from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.ops import (
    cpu_kernels_available,
    cpu_kernels_reason,
    use_kernel,
)
from tests.helpers import (
    calibrate_then_randomise_norms,
    run_counting_kernel_calls,
)


@pytest.mark.skipif(
    not cpu_kernels_available(), reason=str(cpu_kernels_reason())
)
def test_deploy_form_through_fused_kernel_equals_train_form():
    cl = torch.channels_last
    x = torch.randn(2, 3, 64, 96).contiguous(memory_format=cl)
    train = CPWCResNet(depth=50, norm_eval=False).to(memory_format=cl)
    with torch.no_grad():
        for m in train.modules():
            if isinstance(m, CPWConv2d):  # context weights of trained size
                for conv in [*m.stage1, m.stage2]:
                    conv.weight.normal_(0, 0.2)
    calibrate_then_randomise_norms(train, x)
    deploy = copy.deepcopy(train)
    switch_model_to_deploy(deploy)

    with torch.no_grad():
        with use_kernel('torch'):
            expected = train(x)
        outs, calls = run_counting_kernel_calls(deploy, x)
    assert (
        calls == sum(isinstance(m, CPWConv2d) for m in deploy.modules()) == 36
    )  # 16 x 2 + 4
    for out, ref in zip(outs, expected):
        assert torch.isfinite(ref).all() and ref.abs().max() > 0.1
        torch.testing.assert_close(
            out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item()
        )
