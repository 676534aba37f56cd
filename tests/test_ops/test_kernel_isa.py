"""Every build of the fused CPU kernel this machine runs (scalar, AVX2,
AVX-512) against the spec's reference loop, and the choice of build."""

import os

import pytest
import torch

from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.ops import cpu_kernels
from cpwc_mmdet.ops.cpu_isa import ISA_CPU_FLAGS, KERNEL_ISAS, runnable_isas
from tests.helpers import (
    CPWC_CASES,
    cpwc_reference_forward,
    run_counting_kernel_calls,
)

CL = torch.channels_last
BUILDS = list(cpu_kernels.kernel_builds())  # built and runnable here
needs_builds = pytest.mark.skipif(not BUILDS, reason='kernel not built')

# (C, Z) beyond CPWC_CASES, for each way stage 1 runs, in whole channel
# blocks (64 / 32 / 16 channels for AVX-512 / AVX2 / scalar), single
# vectors and masked tails
SHAPES_BY_CASE = {
    'Z == C': [(64, 64), (72, 72)],
    'Z < C, r = 2': [(128, 64), (96, 48), (32, 16)],
    'Z < C, r = 4': [(256, 64), (80, 20), (16, 4)],
    'Z < C, uneven or r = 3': [(33, 17), (40, 16), (24, 8)],
    'Z > C, e = 2': [(64, 128), (48, 96), (8, 16), (12, 24)],
    'Z > C, e = 4': [(64, 256), (20, 80), (4, 16)],
    'Z > C, uneven or e = 3': [(17, 33), (16, 40), (8, 24)],
}
SHAPES = CPWC_CASES + [s for case in SHAPES_BY_CASE.values() for s in case]


def randomised(layer):
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    return layer.eval()


def assert_every_build_matches(layer, x):
    """``layer(x)`` through each build against the spec's loop (computed
    once: it is the slow part)."""
    with torch.no_grad():
        expected = cpwc_reference_forward(layer, x)
    for isa in BUILDS:
        with torch.no_grad(), cpu_kernels.use_kernel_isa(isa):
            out, calls = run_counting_kernel_calls(layer, x)
        assert calls == 1, isa
        torch.testing.assert_close(
            out,
            expected,
            atol=1e-4,
            rtol=1e-4,
            msg=lambda m, isa=isa: f'{isa}: {m}',
        )


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@needs_builds
@pytest.mark.parametrize('c,z', SHAPES)
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize(
    'stage2,pwc', [(True, True), (False, True), (True, False)]
)
def test_builds_match_reference_loop(c, z, stride, stage2, pwc):
    layer = randomised(
        CPWConv2d(c, z, stride=stride, stage2=stage2, pwc=pwc, bias=pwc)
    )
    x = torch.randn(2, c, 9, 10).contiguous(memory_format=CL)
    assert_every_build_matches(layer, x)


@needs_builds
@pytest.mark.parametrize(
    'c,z', [(12, 5), (64, 64), (64, 16), (32, 64), (16, 64)]
)
@pytest.mark.parametrize('size', [(1, 1), (1, 7), (6, 1), (2, 2), (17, 5)])
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('threads', [1, 2, 3])
def test_builds_on_small_maps_and_row_blocks(
    c, z, size, stride, threads, restore_threads
):
    """1-pixel rows and columns, every border; a batch of one split into
    row blocks, one per thread (the stage-2 ring at block edges)."""
    torch.set_num_threads(threads)
    layer = randomised(CPWConv2d(c, z, stride=stride))
    x = torch.randn(1, c, *size).contiguous(memory_format=CL)
    assert_every_build_matches(layer, x)


@needs_builds
@pytest.mark.parametrize(
    'c,z', [(64, 64), (128, 64), (256, 64), (33, 17), (64, 128), (64, 256)]
)
def test_builds_at_stride_3(c, z):
    """Strides other than 1 and 2 take the one-pixel path."""
    layer = randomised(CPWConv2d(c, z, stride=3))
    x = torch.randn(2, c, 11, 13).contiguous(memory_format=CL)
    assert_every_build_matches(layer, x)


def test_every_build_this_cpu_runs_is_there():
    """setup.py builds every ISA; a silent compiler failure must not pass CI
    (set CPWC_NO_EXT=1 where no compiler is meant to be used). Each module
    reports the ISA its code was compiled for, so the flags took effect."""
    if os.environ.get('CPWC_NO_EXT') == '1':
        pytest.skip('CPWC_NO_EXT=1')
    builds = cpu_kernels.kernel_builds()
    assert list(builds) == runnable_isas()
    for isa, module in builds.items():
        assert module.isa == isa


def test_the_best_build_is_in_use():
    if os.environ.get('CPWC_NO_EXT') == '1':
        pytest.skip('kernel not built')
    expected = os.environ.get('CPWC_KERNEL_ISA') or runnable_isas()[0]
    assert cpu_kernels.cpu_kernels_isa() == expected


@pytest.mark.parametrize(
    'flags,expected',
    [
        ({'sse2'}, ['scalar']),
        ({'sse2', 'avx', 'avx2'}, ['scalar']),  # AVX2 without FMA
        ({'avx', 'avx2', 'fma'}, ['avx2', 'scalar']),
        (
            {'avx2', 'fma', 'avx512f', 'avx512cd', 'avx512er'},  # Xeon Phi
            ['avx2', 'scalar'],
        ),
        (
            {
                'avx2',
                'fma',
                'avx512f',
                'avx512cd',
                'avx512bw',
                'avx512dq',
                'avx512vl',
            },
            ['avx512', 'avx2', 'scalar'],
        ),
    ],
)
def test_builds_from_cpu_flags(flags, expected):
    assert runnable_isas(flags) == expected


def test_detection_agrees_with_pytorch():
    """This CPU's flags give the build that matches PyTorch's own dispatch
    level (its cpuinfo library reads CPUID, not /proc/cpuinfo)."""
    if os.environ.get('ATEN_CPU_CAPABILITY'):
        pytest.skip('ATEN_CPU_CAPABILITY caps PyTorch below the CPU')
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ('AVX512', 'AVX2', 'DEFAULT'):
        pytest.skip(f'not x86: {capability}')
    expected = {'AVX512': 'avx512', 'AVX2': 'avx2'}.get(capability, 'scalar')
    assert runnable_isas()[0] == expected


def test_cpu_flag_table_is_ordered_by_inclusion():
    """A better build needs every flag of a worse one."""
    for better, worse in zip(KERNEL_ISAS, KERNEL_ISAS[1:]):
        assert ISA_CPU_FLAGS[worse] < ISA_CPU_FLAGS[better]


@needs_builds
def test_isa_request_from_the_environment(monkeypatch):
    monkeypatch.setenv('CPWC_KERNEL_ISA', 'scalar')
    kernel, reason = cpu_kernels._load()
    assert reason is None and kernel.isa == 'scalar'
    monkeypatch.setenv('CPWC_KERNEL_ISA', 'avx3')
    kernel, reason = cpu_kernels._load()
    assert kernel is None and "'avx3' is not one of" in reason
    # a build the CPU cannot run is never imported (SIGILL)
    monkeypatch.setattr(cpu_kernels, 'runnable_isas', lambda: ['scalar'])
    monkeypatch.setenv('CPWC_KERNEL_ISA', 'avx512')
    kernel, reason = cpu_kernels._load()
    assert kernel is None and 'this CPU runs only scalar' in reason


def test_unknown_build_is_refused():
    with pytest.raises(RuntimeError, match="no 'avx3' build"):
        with cpu_kernels.use_kernel_isa('avx3'):
            pass
