"""``ops.coc_weight``: the fused CPU derivation of a CoC weight (every
build this machine runs) against PyTorch's ops, forward and gradients, in
float64 so that any indexing slip shows; and when each path runs."""

import pytest
import torch

from cpwc_mmdet.layers import CoCConv2d
from cpwc_mmdet.ops import cpu_kernels, use_kernel
from cpwc_mmdet.ops.coc_weight import fused_applies

BUILDS = list(cpu_kernels.kernel_builds())
needs_builds = pytest.mark.skipif(not BUILDS, reason='kernel not built')

# (ci, co, k, sa, sk_plus, dilat, skip, stnd, orth): full 16-channel blocks
# and tails, co < G sa^2 (padded tiles), co > ci, 3x3 / 5x5 / 7x7, dilated
# and plain super kernels, each switch off once
CASES = [
    (32, 32, 3, 2, 2, True, True, True, True),
    (8, 18, 3, 2, 2, True, True, True, True),
    (5, 7, 3, 3, 4, True, False, True, False),
    (3, 64, 7, 2, 2, True, True, True, True),
    (16, 9, 5, 2, 0, False, True, False, True),
    (40, 24, 3, 3, 2, False, True, True, True),
    (21, 4, 3, 2, 6, True, True, True, False),
]


def randomised(case, dtype=torch.float64):
    ci, co, k, sa, sk_plus, dilat, skip, stnd, orth = case
    conv = CoCConv2d(
        ci, co, k, padding=k // 2, sa=sa, sk_plus=sk_plus, dilat=dilat,
        skip=skip, stnd=stnd, orth=orth,
    ).to(dtype)  # fmt: skip
    with torch.no_grad():
        for p in conv.parameters():
            p.normal_()
    return conv


def weight_and_grads(conv, channels_last, mode):
    params = [p for n, p in conv.named_parameters() if n != 'bias']
    with use_kernel(mode):
        weight = conv.deploy_weight(channels_last=channels_last)
    seed = torch.Generator().manual_seed(1)
    grad = torch.randn(weight.shape, generator=seed, dtype=weight.dtype)
    if channels_last:
        grad = grad.contiguous(memory_format=torch.channels_last)
    return weight, torch.autograd.grad(weight, params, grad)


@needs_builds
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('case', CASES, ids=str)
def test_every_build_equals_pytorch_ops(case, channels_last):
    conv = randomised(case)
    expected, expected_grads = weight_and_grads(conv, channels_last, 'torch')
    layout = torch.channels_last if channels_last else torch.contiguous_format
    for isa in BUILDS:
        with cpu_kernels.use_kernel_isa(isa):
            weight, grads = weight_and_grads(conv, channels_last, 'auto')
        assert weight.is_contiguous(memory_format=layout), isa
        torch.testing.assert_close(weight, expected, rtol=1e-10, atol=1e-10)
        for got, want in zip(grads, expected_grads):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@needs_builds
def test_float32_layer_matches_within_float32_rounding():
    conv = randomised(CASES[0], torch.float32)
    expected, expected_grads = weight_and_grads(conv, True, 'torch')
    weight, grads = weight_and_grads(conv, True, 'auto')
    torch.testing.assert_close(weight, expected, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


class CountingModule:
    """A kernel module that counts its ``coc_weight_forward`` calls."""

    def __init__(self, module):
        self.module = module
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self.module, name)

    def coc_weight_forward(self, *args):
        self.calls += 1
        return self.module.coc_weight_forward(*args)


@needs_builds
@pytest.mark.parametrize(
    'mode, dtype, fused',
    [
        ('auto', torch.float32, True),
        ('cpu-fused', torch.float64, True),
        ('torch', torch.float32, False),
        ('auto', torch.bfloat16, False),  # the kernel takes float32/64
    ],
)
def test_which_path_runs(monkeypatch, mode, dtype, fused):
    counting = CountingModule(cpu_kernels.module)
    monkeypatch.setattr(cpu_kernels, 'module', counting)
    conv = randomised(CASES[0]).to(dtype)
    x = torch.randn(1, 32, 8, 8, dtype=dtype)
    with use_kernel(mode):
        out = conv(x)
    assert out.shape == (1, 32, 8, 8)
    assert counting.calls == (1 if fused else 0)


def test_without_the_kernel_pytorch_ops_run(monkeypatch):
    monkeypatch.setattr(cpu_kernels, 'module', None)
    conv = randomised(CASES[0], torch.float32)
    assert not fused_applies(
        conv.weight_image, (conv.super_norm.weight, None, 1e-5)
    )
    weight, _ = weight_and_grads(conv, False, 'auto')
    assert weight.shape == (32, 32, 3, 3)


@needs_builds
def test_kernel_rejects_bad_shapes_in_one_line():
    conv = randomised(CASES[0], torch.float32)
    image = conv.weight_image.detach().contiguous()  # not channels_last
    norm = conv.super_norm
    with pytest.raises(RuntimeError, match='channels_last'):
        cpu_kernels.module.coc_weight_forward(
            image, conv.super_kernel.detach(), norm.weight.detach(),
            norm.bias.detach(), torch.empty(0), torch.empty(0), conv.sa, 32,
            conv.super_dilation, True, 1e-5, 1e-5, False,
        )  # fmt: skip
