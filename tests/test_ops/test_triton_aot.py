"""Every Triton kernel compiles ahead of time to cubin for sm_80 (A100) and
sm_90 (H100), on this CPU machine (no GPU: Triton's compiler and its bundled
ptxas need none), and none spills registers.

Each kernel is built with each launch configuration it may get
(``configs_of``), each activation dtype the op accepts (float32, float16,
bfloat16) and weights in float32 (AMP's master weights) or in the
activation dtype, its optional branches on and off, strides 1 and 2 and
both stage-1 formulations (Z <= C, Z > C): a covering subset, each value of
each axis at least once per architecture, not the product. The table of
registers per build is printed (``pytest -s``).
"""

import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

triton = pytest.importorskip('triton')
if not hasattr(torch.library, 'custom_op'):
    pytest.skip('torch < 2.4: no Triton op', allow_module_level=True)

from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.backends.nvidia.compiler import get_ptxas  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from cpwc_mmdet.ops import triton_context_kernels as kernels  # noqa: E402

ARCHS = (80, 90)
DTYPES = ('fp32', 'fp16', 'bf16')
#: per kernel, the constexpr flags that switch branches on and off
FLAGS = dict(
    context_forward_kernel=('HAS_S2', 'HAS_BASE'),
    stage2_backward_kernel=('NEED_GS', 'NEED_W2'),
    stage1_backward_kernel=('NEED_X', 'NEED_W1'),
)
#: (flags, STRIDE, EXPAND, MAX_WIDTH, weights in fp32): varied with the
#: configuration's index so that each value appears
VARIANTS = [
    ((True, True), 1, False, 2, True),
    ((True, False), 2, True, 2, False),
    ((False, True), 1, True, 1, True),
    ((True, True), 2, False, 3, False),
    ((False, True), 2, False, 1, True),
    ((True, False), 1, True, 2, True),
]


def builds():
    """(arch, kernel, config, dtype, variant) of every build: each
    configuration twice per architecture, with two dtypes and two
    variants."""
    out = []
    for arch in ARCHS:
        for name in FLAGS:
            for i, config in enumerate(kernels.configs_of(name)):
                for j in (i, (i + 3) % len(VARIANTS)):
                    dtype = DTYPES[(j + arch // 10) % len(DTYPES)]
                    out.append((arch, name, config, dtype, VARIANTS[j]))
    return out


def signature(fn, dtype, fp32_weights):
    """Triton type strings of ``fn``'s arguments: weight pointers in
    float32 or the activations' dtype, gradient-of-weight sums in float32,
    the other pointers in ``dtype``, scalars int32."""
    sig = {}
    for p in fn.params:
        if p.is_constexpr:
            sig[p.name] = 'constexpr'
        elif p.name in ('w1_ptr', 'w2_ptr'):
            sig[p.name] = '*fp32' if fp32_weights else f'*{dtype}'
        elif p.name.startswith('gw'):
            sig[p.name] = '*fp32'
        elif p.name.endswith('_ptr'):
            sig[p.name] = f'*{dtype}'
        else:
            sig[p.name] = 'i32'
    return sig


def resource_usage(cubin: bytes) -> dict:
    """Registers per thread and stack bytes per thread of the kernel in
    ``cubin``, by the cuobjdump that comes with Triton (a stack frame is
    where ptxas spills registers: these kernels keep no local arrays)."""
    tool = os.path.join(os.path.dirname(get_ptxas(80).path), 'cuobjdump')
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'kernel.cubin')
        with open(path, 'wb') as f:
            f.write(cubin)
        report = subprocess.run(
            [tool, '--dump-resource-usage', path],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    usage = re.search(r'REG:(\d+) STACK:(\d+)', report)
    return dict(registers=int(usage.group(1)), stack=int(usage.group(2)))


def build(item):
    """Compile one build to cubin as Triton launches it (its own ptxas
    flags); return the cubin's resource usage."""
    arch, name, (bh, bw, bz, warps), dtype, variant = item
    flags, stride, expand, width, fp32_weights = variant
    fn = getattr(kernels, name)
    constants = dict(zip(FLAGS[name], flags))
    constants.update(
        STRIDE=stride, EXPAND=expand, MAX_WIDTH=width,
        BLOCK_H=bh, BLOCK_W=bw, BLOCK_Z=bz,
    )  # fmt: skip
    src = ASTSource(fn, signature(fn, dtype, fp32_weights), constants)
    compiled = triton.compile(
        src,
        target=GPUTarget('cuda', arch, 32),
        options=dict(num_warps=warps, maxnreg=kernels.MAX_REGISTERS),
    )
    return resource_usage(compiled.asm['cubin'])


def test_every_kernel_compiles_to_cubin_without_spills():
    items = builds()
    # each kernel gets each of its configurations, and each dtype, per arch
    for arch in ARCHS:
        for name in FLAGS:
            mine = [it for it in items if it[:2] == (arch, name)]
            assert {it[2] for it in mine} == set(kernels.configs_of(name))
            assert {it[3] for it in mine} == set(DTYPES)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        reports = list(pool.map(build, items))
    rows = []
    for (arch, name, config, dtype, variant), report in zip(items, reports):
        rows.append(
            f'sm_{arch} {name:24s} {str(config):17s} {dtype} '
            f'{report["registers"]:3d} registers, '
            f'{report["stack"]} stack (spill) bytes'
        )
    print('\n'.join(['', *rows]))
    spilled = [r for r, rep in zip(rows, reports) if rep['stack']]
    assert not spilled, spilled
    assert all(rep['registers'] <= 255 for rep in reports)
