"""The Triton context-unit op and the CUDA dispatch (cpwc_mmdet/ops).

The kernels run on CPU tensors under Triton's interpreter, which Triton reads
when the kernels are defined: every check that runs them runs in one child
process started with ``TRITON_INTERPRET=1`` (``python -m`` this module), and
the tests here read its report. The interpreter runs a CPWC layer in
seconds, so the checks that drive whole networks through the dispatch
(detection-like shapes) replace the kernels' launches by spies that record
each launch's configuration and leave the values alone; the op, its
launcher and the dispatch run for real. Pure functions are tested in this
process.
"""

import copy
import json
import os
import random
import signal
import subprocess
import sys
import traceback
from collections import defaultdict

import pytest
import torch

from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.ops import dispatch, kernel_choices, use_kernel
from cpwc_mmdet.ops.kernel_mode import MODES, parse_mode
from tests.helpers import load_tool

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


def _admit_cpu():
    """The dispatch takes CPU tensors for Triton (its interpreter), and the
    fused CPU kernel stands aside, as on a GPU."""
    from cpwc_mmdet.ops import cpu_kernels

    dispatch.TRITON_DEVICE_TYPES = ('cuda', 'cpu')
    cpu_kernels.module = None


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


def _forward_and_grads(layer, x, forward, grad, x_grad=True):
    """Output and the gradients of x (if it needs one) and of every
    parameter that needs one."""
    x = x.detach().requires_grad_(x_grad)
    out = forward(layer, x)
    named = [('x', x)] if x_grad else []
    named += [(n, p) for n, p in layer.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(out, [t for _, t in named], grad.to(out.dtype))
    return out, dict(zip([n for n, _ in named], grads))


def _triton_forward(dtype):
    def forward(m, t):
        with use_kernel('triton'):
            if dtype == 'autocast':
                with torch.autocast('cpu', dtype=torch.bfloat16):
                    return m(t)
            return m(t)

    return forward


def _torch_forward(m, t):
    with use_kernel('torch'):
        return m(t)


def _check_case(case, x_grad=True, freeze=False):
    """Forward and the gradients of the Triton path vs the PyTorch path
    (``freeze``: the layer's parameters need none)."""
    z, stride, dtype = case[1], case[2], case[5]
    layer, x = _layer_and_input(case)
    layer.requires_grad_(not freeze)
    n, _, h, w = x.shape
    grad = torch.randn(n, z, (h - 1) // stride + 1, (w - 1) // stride + 1)
    if dtype in ('bf16', 'fp16'):
        grad = grad.to(DTYPES[dtype]).float()
    ref, ref_grads = _forward_and_grads(layer, x, _torch_forward, grad, x_grad)
    tested = copy.deepcopy(layer)
    if dtype in ('bf16', 'fp16'):
        tested.to(DTYPES[dtype])
        x = x.to(DTYPES[dtype])
    calls = []
    with _counting_launches(calls, run=True):
        out, grads = _forward_and_grads(
            tested, x, _triton_forward(dtype), grad, x_grad
        )
    assert 'context_forward_kernel' in calls, calls  # the op ran
    expected_dtype = torch.bfloat16 if dtype == 'autocast' else x.dtype
    assert out.dtype == expected_dtype, (out.dtype, expected_dtype)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    assert sorted(grads) == sorted(ref_grads)
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
    return calls


def _check_gradient_branches():
    """Only x's gradient (frozen layer: a frozen stage's input) and only
    the weights' (an input that needs none: the first stage's), each
    against PyTorch; each launches only the backward passes it needs."""
    case = CASES['z<c even, stride 2']
    x_only = _check_case(case, x_grad=True, freeze=True)
    w_only = _check_case(case, x_grad=False, freeze=False)
    assert x_only.count('stage1_backward_kernel') == 1, x_only
    assert w_only.count('stage2_backward_kernel') == 1, w_only


class _Spy:
    """A stand-in for a kernel: records each launch's configuration (the
    launcher must name it: nothing autotunes) and runs the real kernel only
    if asked."""

    def __init__(self, name, kernel, calls, keys, run):
        self.name, self.kernel = name, kernel
        self.calls, self.keys, self.run = calls, keys, run

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            named = dict(zip(self.kernel.arg_names, args), **kwargs)
            config = tuple(
                kwargs[k]
                for k in ('BLOCK_H', 'BLOCK_W', 'BLOCK_Z', 'num_warps')
            )  # a KeyError: a launch without its configuration
            self.keys.add((self.name, config))
            self.calls.append(self.name)
            if self.run:
                return self.kernel[grid](*args, **kwargs)
            for name in ('out_ptr', 'gs_ptr', 'gx_ptr'):  # what it writes
                if name in named:
                    named[name].zero_()

        return launch


KERNELS = (
    'context_forward_kernel',
    'stage2_backward_kernel',
    'stage1_backward_kernel',
)


class _counting_launches:
    """Within the block the op's kernels are spies (``run``: they still
    launch the real kernels)."""

    def __init__(self, calls, keys=None, run=False):
        self.calls, self.keys = calls, keys if keys is not None else set()
        self.run = run

    def __enter__(self):
        from cpwc_mmdet.ops import triton_context_kernels as kernels

        self.saved = {name: getattr(kernels, name) for name in KERNELS}
        for name, kernel in self.saved.items():
            spy = _Spy(name, kernel, self.calls, self.keys, self.run)
            setattr(kernels, name, spy)
        return self

    def __exit__(self, *exc):
        from cpwc_mmdet.ops import triton_context_kernels as kernels

        for name, kernel in self.saved.items():
            setattr(kernels, name, kernel)


def _check_opcheck():
    """torch.library.opcheck (schema, fake tensor, autograd registration,
    AOT dispatch with dynamic shapes) of both ops, on a one-program input."""
    from cpwc_mmdet.ops import triton_context

    layer, x = _layer_and_input(
        (7, 3, 1, True, True, 'fp32', False, (1, 3, 4))
    )
    w1 = layer.stage1_kernels()
    w2 = layer.stage2.weight.reshape(-1, 9)
    base = layer.pwc(x)
    args = [t.detach().requires_grad_(True) for t in (x, w1, w2, base)]
    segments = list(layer.segment_rows)
    torch.library.opcheck(
        triton_context.triton_context_unit, (*args, segments, 1)
    )
    out = triton_context.triton_context_unit(*args, segments, 1)
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


def _compiled_cpwc_ops(layer, x, mode):
    """The ``cpwc.*`` ops in the forward and backward graphs of
    ``torch.compile(fullgraph=True)`` of ``layer(x).sum()`` under ``mode``
    (AOTAutograd), after running its backward."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    ops = []

    def counting(gm, example_inputs):
        ops.extend(
            str(n.target)
            for n in gm.graph.nodes
            if str(n.target).startswith('cpwc.')
        )
        return make_boxed_func(gm.forward)

    torch._dynamo.reset()
    with use_kernel(mode):
        compiled = torch.compile(
            lambda t: layer(t).sum(),
            backend=aot_autograd(fw_compiler=counting, bw_compiler=counting),
            fullgraph=True,
        )
        compiled(x).backward()
    return ops


def _check_compile_and_dispatch():
    """CPWC_KERNEL=torch runs PyTorch, =triton the op; torch.compile
    (AOTAutograd) traces the dispatch into one graph holding one op
    forward and one backward."""
    layer, x = _layer_and_input(
        CASES['z>c uneven, stride 2, 2 channel blocks']
    )
    with use_kernel('torch'):
        assert (
            dispatch.choose_implementation(
                x, None, layer.stage1_kernels(), None, layer.segment_rows, 2
            )
            == 'torch'
        )
    with use_kernel('triton'), torch.no_grad():
        assert (
            dispatch.choose_implementation(
                x, None, layer.stage1_kernels(), None, layer.segment_rows, 2
            )
            == 'triton'
        )
        with use_kernel('torch'):
            expected = layer(x)
        torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)
    x = x.requires_grad_(True)
    ops = _compiled_cpwc_ops(layer, x, 'triton')
    assert ops == [
        'cpwc.context_unit.default',
        'cpwc.context_unit_backward.default',
    ], ops
    grad_x = x.grad.clone()
    x.grad = None
    with use_kernel('torch'):
        layer(x).sum().backward()
    torch.testing.assert_close(grad_x, x.grad, rtol=1e-5, atol=1e-5)


def _check_lookup():
    """CPWC_KERNEL=auto on a Triton device: without a choices file every
    problem gets the rule (the op, default launch configurations) and
    nothing is timed; the tuner's file is read back (its implementation
    and launch configurations used); a file made for other kernels is
    ignored."""
    from cpwc_mmdet.ops import kernel_tuning
    from cpwc_mmdet.ops.triton_context_kernels import INTERPRETED

    tune_tool = load_tool('analysis_tools/tune_cpwc')
    _fresh_choices('lookup')
    layer, x = _layer_and_input(CASES['z<c even, stride 2'])
    timed = []
    real_ms = kernel_tuning.milliseconds
    kernel_tuning.milliseconds = lambda *a, **k: timed.append(a) or 1.0
    try:
        with use_kernel('auto'):
            calls, keys = [], set()
            with _counting_launches(calls, keys):
                layer(x.requires_grad_()).sum().backward()
            assert calls == list(KERNELS), calls
            assert {k[1] for k in keys} == {INTERPRETED}, keys
            assert timed == []  # nothing measured at run time
            with kernel_choices.recording() as recorded:
                layer(x)
                with torch.no_grad():
                    layer(x)
            assert [c.problem.grads for c in recorded] == ['xw', '']
            kernel_tuning.milliseconds = real_ms
            tables = kernel_tuning.tune(recorded)
            assert set(tables['implementation']) == {
                c.problem.key() for c in recorded
            }
            inference = recorded[1].problem.key()
            tables['implementation'][inference] = 'torch'
            path = tune_tool.save(tables, x.device)
            assert path == kernel_choices.choices_path(x.device)
            with open(path) as f:
                written = json.load(f)
            assert written['kernels'] == kernel_choices.kernels_version()
            assert set(written['launch']) == set(KERNELS), written['launch']
            before = dict(dispatch.calls)
            with torch.no_grad(), _counting_launches(calls):
                out = layer(x)
            assert dispatch.calls['torch'] == before['torch'] + 1
            with use_kernel('torch'), torch.no_grad():
                torch.testing.assert_close(out, layer(x))
            written['kernels'] = 'other'  # made for other kernels: ignored
            with open(path, 'w') as f:
                json.dump(written, f)
            kernel_choices.reset()
            with torch.no_grad():
                layer(x)
            assert dispatch.calls['triton'] == before['triton'] + 1
    finally:
        kernel_tuning.milliseconds = real_ms


def _fresh_choices(name):
    """Forget the choices, and keep this check's in a folder of its own."""
    os.environ['XDG_CACHE_HOME'] = os.path.join(
        os.environ['XDG_CACHE_HOME'], name
    )
    kernel_choices.reset()


def _detection_shapes(count, seed):
    """``count`` detection-like batch shapes: 2 images whose sides keep an
    aspect ratio and are padded to 32 (as mmdet's preprocessor does), the
    smallest and the largest among them."""
    rng = random.Random(seed)
    shapes = [(2, 64, 64), (2, 192, 256)]
    while len(shapes) < count:
        short = rng.randrange(64, 193)
        long = min(256, int(short * rng.uniform(1.0, 1.7)))
        h, w = (short, long) if rng.random() < 0.5 else (long, short)
        shapes.append((2, -(-h // 32) * 32, -(-w // 32) * 32))
    return shapes


def _check_many_shapes():
    """30 detection-like batch shapes through a CPWC-ResNet-50 (training:
    forward and backward): every call goes to the op with a named launch
    configuration, and the tuner would meet a handful of problems per
    layer (size buckets), not one per shape."""
    from mmdet.registry import MODELS

    _fresh_choices('many shapes')
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='CPWCResNet', depth=50, base_channels=8, norm_eval=False)
    )
    configs = {
        (m.in_channels, m.out_channels, m.stride[0])
        for m in model.modules()
        if isinstance(m, CPWConv2d)
    }
    keys, calls, shapes = set(), [], set()
    with use_kernel('auto'), _counting_launches(calls, keys):
        with kernel_choices.recording() as recorded:
            for n, h, w in _detection_shapes(30, seed=0):
                sum(o.sum() for o in model(torch.randn(n, 3, h, w))).backward()
    buckets = defaultdict(set)  # layer configuration -> size buckets
    for call in recorded:
        p = call.problem
        buckets[p.channels, p.out_channels, p.stride].add(p.bucket)
        shapes.add((p[:-1], call.shape))
    assert set(buckets) == configs
    # the shapes span 12x in pixels: at most 3 buckets of 4x per layer
    assert max(len(b) for b in buckets.values()) <= 3, buckets
    pairs = sum(len(b) for b in buckets.values())
    problems = {c.problem.key() for c in recorded}
    assert len(problems) <= pairs * 5 < len(shapes), (problems, len(shapes))
    assert set(calls) == set(KERNELS), set(calls)
    print(
        f'MANYSHAPES {len(configs)} layer configurations, {pairs} '
        f'(configuration, bucket) pairs, {len(problems)} problems to tune '
        f'for 30 batch shapes ({len(shapes)} with exact-shape keys)'
    )


class _deadline:
    """Raise TimeoutError in the block after ``seconds`` (a hang fails)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def _raise(self, *_):
        raise TimeoutError(f'no answer in {self.seconds} s: a hang')

    def __enter__(self):
        signal.signal(signal.SIGALRM, self._raise)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)


def _check_checkpoints():
    """A CPWC layer and a small CPWC-ResNet under
    ``torch.utils.checkpoint`` with ``use_reentrant=False`` and ``=True``
    (and mmdet's ``with_cp``), forward and backward in ``auto`` with no
    choices file: no hang (a deadline), the op runs, and outputs and
    gradients match PyTorch's without a checkpoint."""
    from mmdet.registry import MODELS
    from torch.utils.checkpoint import checkpoint

    _fresh_choices('checkpoints')
    layer, x = _layer_and_input(CASES['z<c even, stride 2'])
    torch.manual_seed(0)
    cfg = dict(type='CPWCResNet', depth=18, base_channels=8, norm_eval=False)
    net = MODELS.build(cfg)
    net_cp = MODELS.build(dict(cfg, with_cp=True))
    net_cp.load_state_dict(net.state_dict())
    net.eval()  # BN in eval: a recompute computes the same
    net_cp.eval()
    img = torch.randn(1, 3, 32, 32)

    def grads(forward, module, inp, mode):
        inp = inp.detach().requires_grad_()
        module.zero_grad(set_to_none=True)
        with use_kernel(mode), _deadline(300):
            out = forward(module, inp)
            total = sum(o.float().sum() for o in out)
            total.backward()
        return [total.detach(), inp.grad] + [
            p.grad for p in module.parameters() if p.grad is not None
        ]

    def whole(module, inp):
        out = module(inp)
        return out if isinstance(out, tuple) else (out,)

    for reentrant in (False, True):

        def checkpointed(module, inp, reentrant=reentrant):
            out = checkpoint(module, inp, use_reentrant=reentrant)
            return out if isinstance(out, tuple) else (out,)

        for module, inp in ((layer, x), (net, img)):
            before = dispatch.calls['triton']
            tested = grads(checkpointed, module, inp, 'auto')
            assert dispatch.calls['triton'] > before  # the op ran
            expected = grads(whole, module, inp, 'torch')
            for a, b in zip(tested, expected):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)
    tested = grads(whole, net_cp, img, 'auto')  # mmdet's with_cp
    expected = grads(whole, net, img, 'torch')
    for a, b in zip(tested, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)


def _check_compile_auto():
    """torch.compile(fullgraph=True) of a CPWC layer in ``auto`` (no
    choices file: the rule) compiles with the op in the graph, forward and
    backward: no graph break."""
    _fresh_choices('compile')
    layer, x = _layer_and_input(CASES['z<c even, stride 2'])
    ops = _compiled_cpwc_ops(layer, x.requires_grad_(True), mode='auto')
    assert ops == [
        'cpwc.context_unit.default',
        'cpwc.context_unit_backward.default',
    ], ops


def child_main():
    """Run every check; print ``{check: '' or the failure}`` as JSON."""
    assert os.environ.get('TRITON_INTERPRET') == '1'
    _admit_cpu()
    torch.manual_seed(0)
    report = {}
    checks = [
        (name, lambda case=case: _check_case(case))
        for name, case in CASES.items()
    ]
    checks += [
        ('gradient branches', _check_gradient_branches),
        ('opcheck', _check_opcheck),
        ('compile+dispatch', _check_compile_and_dispatch),
        ('lookup', _check_lookup),
        ('many shapes', _check_many_shapes),
        ('checkpoints', _check_checkpoints),
        ('compile auto', _check_compile_auto),
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
def interpreter_report(tmp_path_factory):
    """The child process's report (one run for every test below)."""
    pytest.importorskip('triton')
    if not hasattr(torch.library, 'custom_op'):
        pytest.skip('torch < 2.4: no Triton op')
    cache = tmp_path_factory.mktemp('cache')
    env = dict(
        os.environ,
        TRITON_INTERPRET='1',
        PYTHONPATH=ROOT,
        XDG_CACHE_HOME=str(cache),
        CPWC_KERNEL='auto',
    )
    proc = subprocess.run(
        [sys.executable, '-m', 'tests.test_ops.test_triton_context'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('REPORT ')]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    for line in proc.stdout.splitlines():
        if line.startswith('MANYSHAPES'):
            print(line)
    return json.loads(lines[-1][len('REPORT ') :])


@pytest.mark.parametrize('name', list(CASES))
def test_op_matches_pytorch_path(interpreter_report, name):
    """Forward and the gradients of x, pwc, stage 1 and stage 2."""
    assert interpreter_report[name] == '', interpreter_report[name]


@pytest.mark.parametrize(
    'check',
    [
        'gradient branches',
        'opcheck',
        'compile+dispatch',
        'lookup',
        'many shapes',
        'checkpoints',
        'compile auto',
    ],
)
def test_op_and_dispatch(interpreter_report, check):
    assert interpreter_report[check] == '', interpreter_report[check]


def test_auto_on_cpu_is_pytorch_without_warning(recwarn):
    """CPWC_KERNEL=auto on CPU: the fused kernel or PyTorch, no warning,
    nothing measured, and the Triton module is not imported."""
    layer = CPWConv2d(8, 4)
    x = torch.randn(1, 8, 5, 5)
    imported = 'cpwc_mmdet.ops.triton_context' in sys.modules
    with use_kernel('auto'):
        layer(x)
        layer(x.requires_grad_())
    assert len(recwarn) == 0, [str(w.message) for w in recwarn]
    assert ('cpwc_mmdet.ops.triton_context' in sys.modules) == imported


@pytest.mark.parametrize(
    'value,mode',
    [
        ('', 'auto'),
        ('auto', 'auto'),
        ('TRITON', 'triton'),
        (' torch', 'torch'),
    ],
)
def test_kernel_mode(value, mode):
    assert parse_mode(value) == mode
    assert mode in MODES


def test_kernel_mode_rejects_unknown():
    with pytest.raises(ValueError, match='^CPWC_KERNEL must be one of'):
        parse_mode('cudnn')


def test_kernel_mode_is_read_once_at_import():
    code = (
        'import os\n'
        'from cpwc_mmdet.ops import kernel_mode\n'
        'os.environ["CPWC_KERNEL"] = "triton"\n'
        'print(kernel_mode())'
    )
    out = subprocess.run(
        [sys.executable, '-c', code],
        cwd=ROOT,
        env=dict(os.environ, CPWC_KERNEL='torch'),
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == 'torch', out.stderr[-2000:]
    bad = subprocess.run(
        [sys.executable, '-c', 'import cpwc_mmdet'],
        cwd=ROOT,
        env=dict(os.environ, CPWC_KERNEL='fast'),
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and 'CPWC_KERNEL must be one of' in bad.stderr


def test_size_buckets_are_powers_of_four():
    assert [kernel_choices.size_bucket(p) for p in (1, 3, 4, 15, 16, 64)] == [
        0,
        0,
        1,
        1,
        2,
        3,
    ]
    # mmdet's padded 800x1216 and 800x1344 batches of 2, at stride 4: one
    assert kernel_choices.size_bucket(
        2 * 200 * 304
    ) == kernel_choices.size_bucket(2 * 200 * 336)


def test_int32_guard_counts_the_largest_offset_of_a_view():
    pytest.importorskip('triton')
    if not hasattr(torch.library, 'custom_op'):
        pytest.skip('torch < 2.4: no Triton op')
    from cpwc_mmdet.ops.triton_context import fits_int32, largest_offset

    big = torch.empty_strided(
        (2, 8, 2, 2), (2**31, 1, 4, 2), device='meta'
    )  # a view of two images far apart in a larger buffer
    assert big.numel() == 64  # few elements, far apart
    assert largest_offset(big) > 2**31 - 1
    assert not fits_int32(big, None)
    assert fits_int32(torch.empty(1, 8, 2, 2), None, z=8)
    assert not fits_int32(torch.empty(1, 8, 2, 2), None, z=2**30)


def test_choices_file_read_only_when_whole_and_for_these_versions(tmp_path):
    """A killed writer's half file, another format or other kernels: the
    tables are empty (the rule); the tool's merge keeps other entries."""
    from cpwc_mmdet.utils.atomic_files import atomic_update_json

    path = str(tmp_path / 'choices.json')
    versions = kernel_choices.versions('cpu-interpreter')
    with open(path, 'w') as f:
        f.write('{"format": 2, "implementation": ')
    empty = dict(implementation={}, launch={})
    assert kernel_choices.read_choices(path, versions) == empty
    first = dict(implementation={'a': 'torch'}, launch={'k': {'a': [1]}})
    merge = load_tool('analysis_tools/tune_cpwc').merge
    atomic_update_json(path, merge(first, versions))
    second = dict(implementation={'b': 'triton'}, launch={'k': {'b': [2]}})
    atomic_update_json(path, merge(second, versions))
    tables = kernel_choices.read_choices(path, versions)
    assert tables == dict(
        implementation={'a': 'torch', 'b': 'triton'},
        launch={'k': {'a': [1], 'b': [2]}},
    )
    other = dict(versions, kernels='0' * 12)
    assert kernel_choices.read_choices(path, other) == empty
    assert os.listdir(tmp_path) == ['choices.json']  # no temporary left


if __name__ == '__main__':
    child_main()
