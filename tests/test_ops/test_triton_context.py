"""The Triton context-unit op against CPWConv2d's PyTorch path.

The kernels run on CPU tensors under Triton's interpreter, which Triton reads
when the kernels are defined: every check that runs them runs in one child
process started with ``TRITON_INTERPRET=1`` (``python -m`` this module), and
the tests here read its report. The dispatcher's CPU behaviour is tested in
this process.
"""

import copy
import json
import os
import subprocess
import sys
import traceback

import pytest
import torch

from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.ops import cuda_dispatch, fused_context
from tests.helpers import CPWC_CASES

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

#: name -> (C, Z, stride, stage2, pwc, dtype, channels_last, (N, H, W)).
#: 6 rows span two row strips of the interpreter's tiles (4 rows), 9 channels
#: two channel blocks (8); stride 2 with even and odd sizes. Uneven groups:
#: C=7, Z=3 reads 3+2+2 channels; C=3, Z=7 repeats the channels 3, 2, 2
#: times; C=5, Z=9 2, 2, 2, 2, 1 times.
# fmt: off
CASES = {
    'z==c, batch 2': (4, 4, 1, True, True, 'fp32', False, (2, 6, 5)),
    'z<c uneven, channels_last':
        (7, 3, 1, True, True, 'fp32', True, (1, 6, 5)),
    'z<c even, stride 2': (8, 4, 2, True, True, 'fp32', False, (1, 6, 7)),
    'z>c repeat 2, channels_last':
        (4, 8, 1, True, True, 'fp32', True, (1, 6, 5)),
    'z>c uneven, stride 2, 2 channel blocks':
        (5, 9, 2, True, True, 'fp32', False, (1, 7, 6)),
    'stage2 off, pwc off, z<c uneven, stride 2':
        (7, 3, 2, False, False, 'fp32', True, (1, 7, 6)),
    'bf16, z<c uneven, channels_last':
        (7, 3, 1, True, True, 'bf16', True, (1, 6, 5)),
    'fp16, z>c uneven, stride 2':
        (3, 7, 2, True, True, 'fp16', False, (1, 7, 6)),
    'autocast bf16, z==c, channels_last':
        (4, 4, 1, True, True, 'autocast', True, (1, 6, 5)),
}
# fmt: on
DTYPES = dict(
    fp32=torch.float32,
    bf16=torch.bfloat16,
    fp16=torch.float16,
    autocast=torch.float32,
)
#: relative tolerance (and absolute, times the largest expected value):
#: float32 sums differ in order only; the low-precision cases round the
#: output, the gradients and gs (stored in the input dtype); autocast also
#: rounds x and the 1x1 path's weights. Measured worst error / tolerance
#: with these: 0.01 (fp32), 0.13 (fp16), 0.29 (bf16), 0.28 (autocast)
TOLERANCE = dict(fp32=1e-5, bf16=1e-2, fp16=2e-3, autocast=2e-2)

# ------------------------------------------------ child process (interpreter)


def _layer_and_input(case):
    """A CPWConv2d with random weights (pwc bias on), and its input."""
    c, z, stride, stage2, pwc, dtype, channels_last, (n, h, w) = case
    layer = CPWConv2d(c, z, stride=stride, stage2=stage2, pwc=pwc, bias=pwc)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    x = torch.randn(n, c, h, w)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    if dtype in ('bf16', 'fp16'):
        # the reference sees the same rounded values as the op
        layer.to(DTYPES[dtype]).float()
        x = x.to(DTYPES[dtype]).float()
    return layer, x


def _forward_and_grads(layer, x, forward, grad):
    """Output and the gradients of x and of every parameter."""
    x = x.detach().requires_grad_(True)
    out = forward(layer, x)
    params = list(layer.parameters())
    grads = torch.autograd.grad(out, [x] + params, grad.to(out.dtype))
    names = ['x'] + [name for name, _ in layer.named_parameters()]
    return out, dict(zip(names, grads))


def _check_case(case):
    """Forward and every gradient of the Triton path vs the PyTorch path."""
    z, stride, dtype = case[1], case[2], case[5]
    layer, x = _layer_and_input(case)
    n, _, h, w = x.shape
    grad = torch.randn(n, z, (h - 1) // stride + 1, (w - 1) // stride + 1)
    if dtype in ('bf16', 'fp16'):
        grad = grad.to(DTYPES[dtype]).float()
    ref, ref_grads = _forward_and_grads(layer, x, lambda m, t: m(t), grad)
    tested = copy.deepcopy(layer)
    if dtype in ('bf16', 'fp16'):
        tested.to(DTYPES[dtype])
        x = x.to(DTYPES[dtype])

    def triton_forward(m, t):
        if dtype == 'autocast':
            with torch.autocast('cpu', dtype=torch.bfloat16):
                return cuda_dispatch.triton_context_unit(m, t)
        return cuda_dispatch.triton_context_unit(m, t)

    out, grads = _forward_and_grads(tested, x, triton_forward, grad)
    expected_dtype = torch.bfloat16 if dtype == 'autocast' else x.dtype
    assert out.dtype == expected_dtype, (out.dtype, expected_dtype)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    if case[6]:
        assert out.is_contiguous(memory_format=torch.channels_last)
    tol = TOLERANCE[dtype]
    for name, actual, expected in [('output', out, ref)] + [
        (key, grads[key], ref_grads[key]) for key in ref_grads
    ]:
        assert actual.dtype == (
            expected_dtype
            if name == 'output'
            else dict(tested.named_parameters()).get(name, x).dtype
        ), name
        torch.testing.assert_close(
            actual.float(),
            expected,
            rtol=tol,
            atol=tol * expected.abs().max().item(),
            msg=lambda m, name=name: f'{name}: {m}',
        )


def _check_opcheck():
    """torch.library.opcheck (schema, fake tensor, autograd registration,
    AOT dispatch with dynamic shapes) of both ops, on a one-program input."""
    from cpwc_mmdet.ops import triton_context

    layer, x = _layer_and_input(
        (7, 3, 1, True, True, 'fp32', False, (1, 3, 4))
    )
    w1 = torch.cat([c.weight.reshape(-1, 9) for c in layer.stage1])
    w2 = layer.stage2.weight.reshape(-1, 9)
    base = layer.pwc(x)
    args = [t.detach().requires_grad_(True) for t in (x, w1, w2, base)]
    segments = cuda_dispatch.segment_list(layer)
    torch.library.opcheck(triton_context.context_unit, (*args, segments, 1))
    out = triton_context.context_unit(*args, segments, 1)
    torch.library.opcheck(
        triton_context.context_unit_backward,
        (
            torch.randn_like(out),
            x,
            w1.detach(),
            w2.detach(),
            segments,
            1,
            [True, True, True],
        ),
    )


def _check_compile_and_dispatch():
    """The dispatcher with CPU admitted: CPWC_CUDA_KERNEL=torch answers
    None, =triton runs the op; torch.compile (AOTAutograd) traces the
    dispatcher into one graph holding one op forward and one backward."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    cuda_dispatch.DEVICE_TYPES = ('cuda', 'cpu')
    layer, x = _layer_and_input(
        CASES['z>c uneven, stride 2, 2 channel blocks']
    )
    os.environ[cuda_dispatch.ENV_VAR] = 'torch'
    assert cuda_dispatch.cuda_context_unit(layer, x) is None
    os.environ[cuda_dispatch.ENV_VAR] = 'triton'
    with torch.no_grad():
        torch.testing.assert_close(
            cuda_dispatch.cuda_context_unit(layer, x),
            layer(x),
            rtol=1e-5,
            atol=1e-5,
        )
    ops = []

    def counting(gm, example_inputs):
        ops.extend(
            str(n.target)
            for n in gm.graph.nodes
            if str(n.target).startswith('cpwc.')
        )
        return make_boxed_func(gm.forward)

    torch._dynamo.reset()
    compiled = torch.compile(
        lambda t: cuda_dispatch.cuda_context_unit(layer, t).sum(),
        backend=aot_autograd(fw_compiler=counting, bw_compiler=counting),
        fullgraph=True,
    )
    x = x.requires_grad_(True)
    compiled(x).backward()
    assert ops == [
        'cpwc.context_unit.default',
        'cpwc.context_unit_backward.default',
    ], ops
    grad_x = x.grad.clone()
    x.grad = None
    layer(x).sum().backward()
    torch.testing.assert_close(grad_x, x.grad, rtol=1e-5, atol=1e-5)


def _check_auto_choice():
    """CPWC_CUDA_KERNEL=auto with CPU admitted and a fake timer (the
    interpreter's times mean nothing): the first call of a key times both
    paths, keeps the faster, leaves ``.grad`` alone; later calls reuse it."""
    cuda_dispatch.DEVICE_TYPES = ('cuda', 'cpu')
    os.environ[cuda_dispatch.ENV_VAR] = 'auto'
    layer, x = _layer_and_input(CASES['z<c even, stride 2'])
    times = []  # ms handed out, Triton's first: _measure times it first

    def fake_milliseconds(fn):
        fn()
        return times.pop(0)

    cuda_dispatch._milliseconds = fake_milliseconds
    times[:] = [2.0, 1.0]  # training: PyTorch faster
    assert cuda_dispatch.cuda_context_unit(layer, x.requires_grad_()) is None
    assert times == [] and all(p.grad is None for p in layer.parameters())
    assert cuda_dispatch.cuda_context_unit(layer, x) is None  # cached
    times[:] = [1.0, 2.0]  # inference: Triton faster
    with torch.no_grad():
        torch.testing.assert_close(
            cuda_dispatch.cuda_context_unit(layer, x),
            layer(x),
            rtol=1e-5,
            atol=1e-5,
        )
    assert times == []
    picks = sorted(cuda_dispatch.chosen_kernels().values())
    assert picks == ['torch', 'triton'], picks


def child_main():
    """Run every check; print ``{check: '' or the failure}`` as JSON."""
    assert os.environ.get('TRITON_INTERPRET') == '1'
    torch.manual_seed(0)
    report = {}
    checks = [
        (name, lambda case=case: _check_case(case))
        for name, case in CASES.items()
    ]
    checks += [
        ('opcheck', _check_opcheck),
        ('compile+dispatch', _check_compile_and_dispatch),
        ('auto choice', _check_auto_choice),
    ]
    for name, check in checks:
        try:
            check()
            report[name] = ''
        except Exception:  # reported to the parent, which fails the test
            report[name] = traceback.format_exc(limit=-4)
    print('REPORT ' + json.dumps(report))


# ---------------------------------------------------------- pytest process


@pytest.fixture(scope='module')
def interpreter_report():
    """The child process's report (one run for every test below)."""
    pytest.importorskip('triton')
    env = dict(os.environ, TRITON_INTERPRET='1', PYTHONPATH=ROOT)
    env.pop(cuda_dispatch.ENV_VAR, None)
    proc = subprocess.run(
        [sys.executable, '-m', 'tests.test_ops.test_triton_context'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('REPORT ')]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len('REPORT ') :])


@pytest.mark.parametrize('name', list(CASES))
def test_op_matches_pytorch_path(interpreter_report, name):
    """Forward and the gradients of x, pwc, stage 1 and stage 2."""
    assert interpreter_report[name] == '', interpreter_report[name]


def test_opcheck(interpreter_report):
    assert interpreter_report['opcheck'] == '', interpreter_report['opcheck']


@pytest.mark.parametrize('check', ['compile+dispatch', 'auto choice'])
def test_dispatch(interpreter_report, check):
    assert interpreter_report[check] == '', interpreter_report[check]


def test_auto_on_cpu_is_pytorch_without_warning(monkeypatch, recwarn):
    """CPWC_CUDA_KERNEL=auto on CPU: None (PyTorch path), no warning, and
    the Triton module is not imported."""
    monkeypatch.setenv(cuda_dispatch.ENV_VAR, 'auto')
    layer = CPWConv2d(8, 4)
    x = torch.randn(1, 8, 5, 5)
    imported = 'cpwc_mmdet.ops.triton_context' in sys.modules
    assert cuda_dispatch.cuda_context_unit(layer, x) is None
    assert cuda_dispatch.cuda_context_unit(layer, x.requires_grad_()) is None
    assert len(recwarn) == 0, [str(w.message) for w in recwarn]
    assert ('cpwc_mmdet.ops.triton_context' in sys.modules) == imported
    assert cuda_dispatch.chosen_kernels() == {}


@pytest.mark.parametrize('c,z', CPWC_CASES)
def test_segment_list_is_the_cpu_kernels_table(c, z):
    layer = CPWConv2d(c, z)
    table = fused_context.segment_table(layer.segments, c, z)
    assert cuda_dispatch.segment_list(layer) == table.flatten().tolist()


@pytest.mark.parametrize('value', ['', 'auto', 'TRITON', 'torch'])
def test_kernel_mode(monkeypatch, value):
    monkeypatch.setenv(cuda_dispatch.ENV_VAR, value)
    assert cuda_dispatch.kernel_mode() == (value.lower() or 'auto')


def test_kernel_mode_rejects_unknown(monkeypatch):
    monkeypatch.setenv(cuda_dispatch.ENV_VAR, 'cudnn')
    with pytest.raises(ValueError, match='CPWC_CUDA_KERNEL must be one of'):
        cuda_dispatch.kernel_mode()


if __name__ == '__main__':
    child_main()
