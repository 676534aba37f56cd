"""The fused C++ context kernel (cpwc_mmdet/ops) against the literal spec."""

import copy
import os

import pytest
import torch

from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.ops import (
    cpu_kernels_available,
    cpu_kernels_reason,
    fused_context,
    use_kernel,
)
from tests.helpers import (
    CPWC_CASES,
    cpwc_reference_forward,
    run_counting_kernel_calls,
)

needs_kernel = pytest.mark.skipif(
    not cpu_kernels_available(), reason=str(cpu_kernels_reason())
)
CL = torch.channels_last


def test_kernel_is_built():
    """setup_env.sh builds it; a silent build failure must not pass CI
    (set CPWC_NO_EXT=1 where no compiler is meant to be used)."""
    if os.environ.get('CPWC_NO_EXT') == '1':
        pytest.skip('CPWC_NO_EXT=1')
    assert cpu_kernels_available(), cpu_kernels_reason()


def fused_calls(layer, x):
    """Output of ``layer(x)`` and whether the fused kernel computed it."""
    out, calls = run_counting_kernel_calls(layer, x)
    return out, calls > 0


@needs_kernel
@pytest.mark.parametrize(
    'c,z', CPWC_CASES + [(13, 5), (5, 13), (16, 32), (64, 256)]
)
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize(
    'stage2,pwc', [(True, True), (False, True), (True, False)]
)
@pytest.mark.parametrize('batch', [1, 3])
def test_fused_matches_slow_group_loop(c, z, stride, stage2, pwc, batch):
    layer = CPWConv2d(c, z, stride=stride, stage2=stage2, pwc=pwc, bias=pwc)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    x = torch.randn(batch, c, 9, 10).contiguous(memory_format=CL)
    with torch.no_grad():
        out, fused = fused_calls(layer, x)
        expected = cpwc_reference_forward(layer, x)
    assert fused
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@needs_kernel
@pytest.mark.parametrize('size', [(1, 1), (1, 7), (6, 1), (2, 2), (17, 5)])
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('threads', [1, 2, 4])
def test_fused_row_blocks_and_borders(size, stride, threads, restore_threads):
    """A batch of one is split into row blocks, one per thread; the stage-2
    ring and the borders at the smallest and thinnest maps."""
    torch.set_num_threads(threads)
    layer = CPWConv2d(12, 5, stride=stride).eval()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
        x = torch.randn(1, 12, *size).contiguous(memory_format=CL)
        out, fused = fused_calls(layer, x)
        assert fused
        torch.testing.assert_close(
            out, cpwc_reference_forward(layer, x), atol=1e-5, rtol=1e-4
        )


@needs_kernel
def test_gradient_or_nchw_falls_back_to_pytorch():
    layer = CPWConv2d(8, 4)
    x = torch.randn(2, 8, 6, 6).contiguous(memory_format=CL)
    out, fused = fused_calls(layer, x)  # parameters require grad
    assert not fused and out.requires_grad
    with torch.no_grad():
        _, fused = fused_calls(layer, x.contiguous())  # NCHW
        assert not fused
        out, fused = fused_calls(copy.deepcopy(layer).double(), x.double())
        assert not fused and out.dtype == torch.float64
        with use_kernel('torch'):
            _, fused = fused_calls(layer, x)
        assert not fused


@needs_kernel
def test_kernel_is_named_in_profiles():
    """Under torch.profiler the kernel shows as cpwc::fused_context_unit_
    (the benchmark's "where the time goes"); outside one it runs without
    the record_function, to the same result."""
    layer = CPWConv2d(16, 8)
    x = torch.randn(2, 16, 6, 6).contiguous(memory_format=CL)
    with torch.no_grad():
        plain, fused = fused_calls(layer, x)
        assert fused
        with torch.profiler.profile() as prof:
            profiled = layer(x)
    assert 'cpwc::fused_context_unit_' in {e.key for e in prof.key_averages()}
    torch.testing.assert_close(profiled, plain)


@needs_kernel
def test_cached_weights_follow_in_place_updates():
    """The kernel's weight layout is cached; an optimizer step or a state
    dict load must not leave it stale."""
    layer = CPWConv2d(16, 8, stride=2)
    x = torch.randn(2, 16, 7, 7).contiguous(memory_format=CL)
    with torch.no_grad():
        before, _ = fused_calls(layer, x)
        layer.stage1[0].weight.add_(1.0)
        layer.stage2.weight.mul_(-2.0)
        after, fused = fused_calls(layer, x)
        assert fused
        torch.testing.assert_close(
            after, cpwc_reference_forward(layer, x), atol=1e-5, rtol=1e-4
        )
        assert not torch.allclose(before, after)
        other = CPWConv2d(16, 8, stride=2)
        layer.load_state_dict(other.state_dict())
        torch.testing.assert_close(
            fused_calls(layer, x)[0],
            cpwc_reference_forward(other, x),
            atol=1e-5,
            rtol=1e-4,
        )


@needs_kernel
def test_kernel_rejects_bad_tensors():
    layer = CPWConv2d(8, 4)
    w1 = layer.stage1_kernels().detach()
    w2 = layer.stage2.weight.detach().reshape(-1, 9)
    table = layer.segment_rows
    x = torch.randn(1, 8, 5, 5).contiguous(memory_format=CL)
    out = torch.zeros(1, 4, 5, 5).contiguous(memory_format=CL)
    with pytest.raises(RuntimeError, match='channels_last'):
        fused_context.fused_context_unit_(
            out, x.contiguous(), w1, w2, table, 1
        )
    with pytest.raises(RuntimeError, match='out shape'):
        fused_context.fused_context_unit_(out, x, w1, w2, table, 2)
    with pytest.raises(RuntimeError, match='w1'):
        fused_context.fused_context_unit_(out, x, w1[:4], w2, table, 1)
    short = list(table)
    short[-2] -= 1  # one output channel fewer than Z
    with pytest.raises(RuntimeError, match='segments'):
        fused_context.fused_context_unit_(out, x, w1, w2, short, 1)
