"""Check the GPU path step by step within one time budget: PASS, FAIL or
SKIP per step, the figures, and a JSON record.

Usage::

    python tools/analysis_tools/gpu_check.py [--budget 540] [--out FILE]
        [--steps 1,3,8]                          # one CUDA GPU
    python tools/analysis_tools/gpu_check.py --cpu   # no GPU: reduced (CI)

Steps (``--steps`` picks by number):

1. versions: torch, its CUDA runtime and compiled archs (FAIL when none
   runs on the GPU), the NVIDIA driver, mmcv, mmdet, mmengine, Triton,
   and whether the Triton op can run (where it cannot, torch < 2.4, the
   steps that need it SKIP and the others run);
2. mmcv's RoIAlign (forward and backward) and NMS against torchvision's,
   at detection sizes (2 x 256 x 200 x 272 features, 512 RoIs, 1000 boxes):
   an mmcv built without CUDA ops fails here, where ``import mmcv.ops``
   succeeds;
3. the Triton op against the float64 spec (``spec_reference``; its
   gradients by autograd): float32, float16, bfloat16, fp16 and bf16
   autocast; NCHW, channels_last and non-contiguous inputs; N = 0, 1, 2;
   1x1 to 100x76 maps; x, weight and both gradients, from a random, a
   ``sum()`` (expanded, stride 0) and an ``expand``-ed output gradient;
   each case asserts that the Triton op computed it (``dispatch.calls``);
4. the fall-backs to PyTorch convs: a call whose tensors address past
   int32 (on the GPU also run for real on a 2^31-element expanded input,
   with 40 GiB free), and gradients under deterministic algorithms;
5. ``with_cp``: ``torch.utils.checkpoint`` with ``use_reentrant=True`` and
   ``False`` around a CPWC layer and a small CPWC-ResNet (mmdet's own
   ``with_cp=True`` too), gradients against no checkpoint;
6. ``torch.compile(fullgraph=True)`` of a CPWC layer: the op and its
   backward in the graphs, outputs and gradients equal to eager;
7. a non-default CUDA stream: the op runs on the current stream, after a
   delayed producer of its input on that stream;
8. tuning: a small CPWC-ResNet's calls recorded, timed by
   ``kernel_tuning.tune``, saved by ``tune_cpwc.py``'s ``save`` (into a
   temporary folder: your own choices file is left alone); a second run
   reads the file and measures nothing;
9. a few AMP steps with a gradient scaler (CPWC-R50, a toy loss);
10. peak memory of CPWC-R50 and CoC-R50 against ResNet-50, forward +
    backward at 2 x 800x1216 (``torch.cuda.max_memory_allocated``);
11. speed: the same models, fwd+bwd, float32 and bf16 autocast, medians
    of interleaved runs;
12. ``tools/train.py --amp`` on the toy set: 30 iterations, stopped at 15
    and continued with ``--resume``.

The budget (``--budget``, seconds from the start, default 540: one
10-minute window with a minute to spare for start-up) is spent in that
order: a step starts only when its expected time (below; with ``--cpu``
the CPU figures of ``STEPS``) fits what is left, else it says SKIP and
why, and it is stopped (FAIL) at twice its
expected time plus 30 s or at the end of the budget, whichever comes
first; train.py runs get the step's time left as their timeout. A step
stuck inside one CUDA call is not interrupted until the call returns.

``--cpu`` runs the same steps on the CPU, small: the Triton op under
Triton's interpreter (set before anything imports Triton) in steps 3-8,
PyTorch convs in the whole-network steps 9-11 (the interpreter would take
hours there), saved-for-backward bytes (``saved_memory``) for the peak
memory; steps 7 (no stream) and 12 (no ``--amp``; train.py and
``--resume`` on the CPU are tests/test_engine's) SKIP. The tests run it.

Exit code: 0 when no step failed (SKIPs included), 1 otherwise, 2 for bad
arguments. ``--out`` writes every step's name, status, seconds and detail
as JSON, atomically, after each step.

Expected time per step on one H100 with a cold Triton cache: NOT
MEASURED (no GPU was lent to this project), estimated as the step's
Triton compiles times 1 s, plus its GPU work and set-up. How:

* compiles: counted on the CPU by running each step's CPWC calls at the
  GPU sizes (networks at 2x96x64, whose maps fall in the same
  multiple-of-16 classes as 2x800x1216's, so the same specialisations),
  the kernel launches replaced by Triton's own argument binder for
  ``GPUTarget('cuda', 90, 32)``: each distinct specialisation key and
  launch option set is one compile. In one process, in order: 203 in
  all (train.py's processes read the kernels the earlier steps left in
  Triton's disk cache); a step run alone compiles more (in brackets);
* one compile: timed here ahead of time with ``triton.compile(...,
  target=GPUTarget('cuda', 90, 32))``, 51 variants of the three kernels:
  0.2-0.8 s, median 0.45 s (a 2-core AMD EPYC, load 4.5), taken as 1 s;
* the work: guessed from FLOP counts at a fraction of the H100's peak
  (ResNet-50 fwd+bwd at 2 x 800x1216 is about 1 TFLOP: 4.1 G
  multiply-adds at 224x224, x 19.4 for the pixels, x 2 images, x 2
  FLOPs, x 3 for the backward), plus process, CUDA and cuDNN start-up:
  small next to the compiles except in steps 10-12.

==== ========================== ================ ============ ===========
step                            compiles (alone) estimate (s) --cpu (s)
==== ========================== ================ ============ ===========
1    versions                   0                5            0
2    mmcv vs torchvision        0                5            0
3    op vs float64 spec         75               90           11-27
4    fall-backs                 0                10           0
5    checkpoint                 9 (10)           15           23-33
6    torch.compile              4                15           5
7    CUDA stream                0 (1)            5            SKIP
8    tuning                     53 (54)          65           14-24
9    AMP steps                  14 (23)          25           8-14
10   peak memory                17 (28)          35           3-7
11   speed                      27 (56)          40           4-12
12   train.py --amp, --resume   4 (36)           75           SKIP
==== ========================== ================ ============ ===========

The estimates add up to 385 s, what the budget plans with. The --cpu
column was measured on the 2-core machine the tests run on, shared with
other jobs (load 6-7): 83-135 s for the whole run, start-up included.
"""

import os
import sys
import time

START = time.monotonic()

if __name__ == '__main__' and '--cpu' in sys.argv:
    # Triton decides on its interpreter when kernels are defined
    os.environ['TRITON_INTERPRET'] = '1'

import collections  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from typing import Callable, NamedTuple  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import cpwc_mmdet  # noqa: E402,F401  (registers the modules)
from cpwc_mmdet.cli import ArgumentParser  # noqa: E402
from cpwc_mmdet.layers import CPWConv2d  # noqa: E402
from cpwc_mmdet.ops import (  # noqa: E402
    cpu_kernels,
    dispatch,
    kernel_choices,
    kernel_tuning,
    use_kernel,
)
from cpwc_mmdet.ops.spec_reference import context_unit_spec  # noqa: E402
from cpwc_mmdet.utils.atomic_files import atomic_write  # noqa: E402
from cpwc_mmdet.utils.saved_memory import (  # noqa: E402
    saved_for_backward_bytes,
)

TOOL = 'gpu_check.py'
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
#: worst |error| allowed against the float64 spec, times the largest
#: expected value, by dtype (low precision rounds x, the output and the
#: gradients; autocast also the 1x1 path's weights)
TOLERANCE = {
    'fp32': 1e-4,
    'fp16': 5e-3,
    'bf16': 3e-2,
    'autocast-fp16': 5e-3,
    'autocast-bf16': 3e-2,
}
LOW = {'fp16': torch.float16, 'bf16': torch.bfloat16}


def load_tool(name: str):
    """A module of ``tools/analysis_tools`` by file name (they are scripts,
    not a package)."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(HERE, f'{name}.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Skip(Exception):
    """A step has no meaning here; its message says why."""


class StepTimeout(Exception):
    """A step ran past its time limit."""


class Context:
    """Where the steps run, how big they are, and the time left."""

    def __init__(self, cpu: bool, budget: float):
        self.cpu = cpu
        self.device = torch.device('cpu' if cpu else 'cuda')
        self.budget = budget
        self.deadline = START + budget
        self.step_deadline = self.deadline
        self.tmp = tempfile.mkdtemp(prefix='gpu_check_')
        self.models = {}
        # the choices file the tuning step writes, away from the user's
        os.environ['CPWC_KERNEL_CHOICES_DIR'] = os.path.join(self.tmp, 'kc')
        kernel_choices.reset()
        if cpu:  # the op takes CPU tensors under the interpreter, and the
            # fused CPU kernel stands aside, as on a GPU
            dispatch.TRITON_DEVICE_TYPES = ('cuda', 'cpu')
            cpu_kernels.module = None

    def left(self) -> float:
        """Seconds left to the budget."""
        return self.deadline - time.monotonic()

    def step_left(self) -> float:
        """Seconds left to the running step's limit."""
        return self.step_deadline - time.monotonic()

    def sync(self):
        if not self.cpu:
            torch.cuda.synchronize()

    def network_kernel(self):
        """What the whole-network steps run: the default on a GPU,
        PyTorch convs on the CPU (the interpreter is far too slow)."""
        return use_kernel('torch' if self.cpu else 'auto')

    def device_name(self) -> str:
        if self.cpu:
            return 'CPU, Triton interpreter'
        return torch.cuda.get_device_name()


def ratio(got, want, tol: float) -> float:
    """max |got - want| / (tol * max |want|): at most 1 passes."""
    if want is None or want.numel() == 0:
        return 0.0
    scale = max(want.double().abs().max().item(), 1e-6)
    err = (got.double() - want.double()).abs().max().item()
    return err / (tol * scale)


def assert_close(got, want, what: str, tol: float = 1e-4) -> float:
    """``ratio`` of each pair, asserted <= 1; returns the worst."""
    worst = max([ratio(g, w, tol) for g, w in zip(got, want)] or [0.0])
    assert worst <= 1.0, f'{what}: error / tolerance {worst:.2f}'
    return worst


def ran_triton(before: int, expected: int = 1) -> None:
    """Assert that the Triton op computed ``expected`` more calls."""
    done = dispatch.calls['triton'] - before
    assert done == expected, (
        f'the Triton op computed {done} calls, expected {expected} '
        f'(calls per implementation: {dispatch.calls})'
    )


# ---------------------------------------------------------- 1. versions


def driver_version() -> str:
    """The NVIDIA driver: nvidia-smi's version, else the CUDA version the
    driver supports (``cuDriverGetVersion``)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ['nvidia-smi', '--query-gpu=driver_version',
             '--format=csv,noheader'],
            capture_output=True, text=True, timeout=20,
        ).stdout.split()  # fmt: skip
        if out:
            return f'driver {out[0]}'
    with contextlib.suppress(OSError, AttributeError):
        version = ctypes.c_int()
        ctypes.CDLL('libcuda.so.1').cuDriverGetVersion(ctypes.byref(version))
        v = version.value
        return f'driver for CUDA {v // 1000}.{v % 1000 // 10} (no nvidia-smi)'
    return 'driver version unknown'


def runs_on(capability, archs) -> bool:
    """Whether torch's compiled archs (``get_arch_list``) run on a GPU of
    ``capability``: SASS of its major version and a minor not above its
    own, or PTX of a compute version not above it.

    Example:
        >>> runs_on((8, 9), ['sm_80', 'sm_86', 'sm_90']), runs_on((7, 0),
        ...     ['sm_75', 'sm_80'])
        (True, False)
    """
    mine = capability[0] * 10 + capability[1]
    for arch in archs:
        kind, _, digits = arch.partition('_')
        digits = digits.rstrip('af')  # sm_90a, sm_100f
        if not digits.isdigit():
            continue
        major, minor = divmod(int(digits), 10)
        if kind == 'sm' and major == capability[0] and minor <= capability[1]:
            return True
        if kind == 'compute' and int(digits) <= mine:
            return True
    return False


def gpu_versions(ctx) -> str:
    """The GPU, the CUDA runtime and the driver; fails when this torch
    has no kernels for the GPU's architecture."""
    props = torch.cuda.get_device_properties(ctx.device)
    archs = torch.cuda.get_arch_list()
    cap = (props.major, props.minor)
    line = (
        f'{props.name} (sm_{cap[0]}{cap[1]}, '
        f'{props.total_memory / 2**30:.0f} GiB), CUDA runtime '
        f'{torch.version.cuda} (archs {" ".join(archs)}), {driver_version()}'
    )
    if not runs_on(cap, archs):
        raise RuntimeError(
            f'{line}: this torch has no kernels for sm_{cap[0]}{cap[1]}; '
            'docs/install.md names a build that has them'
        )
    return line


def step_versions(ctx):
    import mmcv
    import mmdet
    import mmengine

    parts = [
        f'torch {torch.__version__}',
        f'mmcv {mmcv.__version__}',
        f'mmdet {mmdet.__version__}',
        f'mmengine {mmengine.__version__}',
    ]
    try:
        import triton

        parts.append(f'triton {triton.__version__}')
    except ImportError:
        parts.append('no triton')
    reason = dispatch.triton_unavailable()
    parts.append(f'Triton op unavailable: {reason}' if reason else
                 'Triton op available')  # fmt: skip
    if not ctx.cpu:
        parts.append(gpu_versions(ctx))
    return ', '.join(parts)


# ------------------------------------------------ 2. mmcv vs torchvision

#: (feature C, H, W, RoIs, NMS boxes) per mode
MMCV_SIZES = {'gpu': (256, 200, 272, 512, 1000), 'cpu': (16, 50, 68, 64, 200)}


def random_boxes(n: int, height: float, width: float, gen) -> torch.Tensor:
    """``n`` boxes ``x1, y1, x2, y2`` inside an image, 2-30% of its sides."""
    side = torch.tensor([width, height])
    xy = torch.rand(n, 2, generator=gen) * side * 0.7
    wh = (torch.rand(n, 2, generator=gen) * 0.28 + 0.02) * side
    return torch.cat([xy, xy + wh], 1)


def check_roi_align(ctx, c, h, w, k) -> str:
    """mmcv's RoIAlign against torchvision's, output and feature grads."""
    import torchvision
    from mmcv.ops import RoIAlign

    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(2, c, h, w, generator=gen).to(ctx.device)
    boxes = random_boxes(k, h * 4, w * 4, gen)
    index = torch.randint(0, 2, (k, 1), generator=gen).float()
    rois = torch.cat([index, boxes], 1).to(ctx.device)
    outs, grads = [], []
    for impl in ('mmcv', 'torchvision'):
        x = feats.clone().requires_grad_()
        if impl == 'mmcv':
            out = RoIAlign(7, 0.25, sampling_ratio=0, aligned=True)(x, rois)
        else:
            out = torchvision.ops.roi_align(x, rois, 7, 0.25, 0, True)
        seed = torch.Generator().manual_seed(1)
        g = torch.randn(out.shape, generator=seed).to(ctx.device)
        grads.append(torch.autograd.grad(out, x, g)[0])
        outs.append(out)
    worst = assert_close([outs[0], grads[0]], [outs[1], grads[1]], 'RoIAlign')
    return f'RoIAlign {k} RoIs on 2x{c}x{h}x{w}: error / tol {worst:.2f}'


def check_nms(ctx, n) -> str:
    """mmcv's NMS keeps what torchvision's keeps, in the same order."""
    import torchvision
    from mmcv.ops import nms

    gen = torch.Generator().manual_seed(2)
    boxes = random_boxes(n, 800, 1216, gen).to(ctx.device)
    scores = torch.rand(n, generator=gen).to(ctx.device)
    _, keep = nms(boxes, scores, 0.5)
    want = torchvision.ops.nms(boxes, scores, 0.5)
    assert torch.equal(keep.cpu(), want.cpu()), (
        f'NMS kept {keep.numel()} boxes, torchvision {want.numel()}'
    )
    return f'NMS {n} boxes: the same {keep.numel()} kept'


def step_mmcv_ops(ctx):
    c, h, w, k, n = MMCV_SIZES['cpu' if ctx.cpu else 'gpu']
    try:
        lines = [check_roi_align(ctx, c, h, w, k), check_nms(ctx, n)]
    except RuntimeError as err:  # mmcv without the device's kernels
        raise RuntimeError(
            f'mmcv.ops on {ctx.device.type}: {err} (an mmcv built without '
            'CUDA ops fails here: docs/install.md)'
        ) from err
    return '; '.join(lines) + ', against torchvision.ops'


# ------------------------------------------- 3. the op vs the float64 spec


class Case(NamedTuple):
    """A layer case: the layer, its input and which gradients."""

    c: int
    z: int
    stride: int
    stage2: bool
    pwc: bool
    dtype: str  # a key of TOLERANCE
    layout: str  # 'nchw', 'cl' (channels_last) or 'strided'
    nhw: tuple
    grads: str  # 'x', 'w' or 'xw'
    out_grad: str = 'random'  # 'random', 'sum' or 'expand'


def layer_cases(cpu: bool):
    """The small cases (both modes), and on a GPU the layer sizes of
    CPWC-R50 at 800x1216."""
    small = [
        Case(4, 4, 1, True, True, 'fp32', 'nchw', (2, 6, 5), 'xw'),
        Case(7, 3, 2, True, True, 'fp32', 'cl', (1, 7, 6), 'x'),
        Case(3, 7, 1, True, False, 'bf16', 'cl', (1, 6, 5), 'w'),
        Case(5, 9, 2, False, True, 'fp16', 'nchw', (1, 7, 6), 'xw'),
        Case(4, 4, 1, True, True, 'autocast-bf16', 'cl', (1, 6, 5), 'xw'),
        Case(4, 4, 1, True, True, 'autocast-fp16', 'nchw', (1, 6, 5), 'xw',
             'sum'),
        Case(4, 8, 1, True, True, 'fp32', 'nchw', (0, 6, 5), 'xw'),
        Case(8, 4, 1, True, True, 'fp32', 'cl', (1, 1, 1), 'xw'),
        Case(6, 4, 1, True, True, 'fp32', 'strided', (2, 5, 6), 'xw',
             'expand'),
        Case(4, 6, 2, True, True, 'fp16', 'strided', (1, 6, 7), 'xw', 'sum'),
    ]  # fmt: skip
    if cpu:
        return small
    large = [
        Case(64, 256, 1, True, True, dtype, layout, (2, 56, 72), grads)
        for dtype in TOLERANCE
        for layout, grads in (('cl', 'xw'), ('nchw', 'x'))
    ]
    large += [
        Case(256, 64, 2, True, True, 'fp32', 'cl', (2, 100, 76), 'w'),
        Case(1024, 256, 1, True, True, 'bf16', 'cl', (1, 50, 38), 'xw'),
        Case(2048, 512, 1, True, True, 'autocast-bf16', 'cl', (2, 25, 19),
             'xw'),
        Case(512, 2048, 2, True, True, 'fp32', 'nchw', (1, 50, 38), 'xw'),
        Case(256, 256, 1, False, False, 'fp16', 'cl', (1, 1, 3), 'xw'),
        Case(256, 64, 1, True, True, 'fp32', 'strided', (2, 50, 76), 'xw',
             'expand'),
        Case(64, 256, 2, True, True, 'autocast-fp16', 'cl', (2, 100, 76),
             'xw', 'sum'),
    ]  # fmt: skip
    return small + large


def case_input(ctx, case: Case) -> torch.Tensor:
    """x of the case's shape and layout (strided: every other column of a
    wider tensor), in its dtype when it is not autocast."""
    n, h, w = case.nhw
    gen = torch.Generator().manual_seed(3)
    wide = 2 if case.layout == 'strided' else 1
    x = torch.randn(n, case.c, h, w * wide, generator=gen)[..., ::wide]
    if case.layout == 'cl':
        x = x.contiguous(memory_format=torch.channels_last)
    x = x.to(ctx.device)
    return x.to(LOW[case.dtype]) if case.dtype in LOW else x


def case_layer(ctx, case: Case) -> CPWConv2d:
    """A CPWC layer with random weights, frozen unless 'w' in grads."""
    torch.manual_seed(0)
    layer = CPWConv2d(case.c, case.z, stride=case.stride, stage2=case.stage2,
                      pwc=case.pwc, bias=case.pwc)  # fmt: skip
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    layer = layer.to(ctx.device, LOW.get(case.dtype, torch.float32))
    return layer.requires_grad_('w' in case.grads)


def autocast_for(ctx, dtype: str):
    """Autocast for the ``autocast-*`` cases, nothing otherwise."""
    low = LOW.get(dtype.replace('autocast-', ''))
    return torch.autocast(
        ctx.device.type, dtype=low, enabled=dtype.startswith('autocast')
    )


def output_grad(out: torch.Tensor, kind: str) -> torch.Tensor:
    """The gradient fed to the op's backward: random, or expanded ones
    (what ``out.sum().backward()`` and ``ones(1).expand`` give)."""
    if kind == 'random':
        gen = torch.Generator().manual_seed(1)
        return torch.randn(out.shape, generator=gen).to(out.device, out.dtype)
    return torch.ones(1, device=out.device, dtype=out.dtype).expand(out.shape)


def leaves(layer, x, grads: str):
    """The tensors whose gradients the case checks."""
    return ([x] if 'x' in grads else []) + [
        p for p in layer.parameters() if p.requires_grad
    ]


def run_op(ctx, layer, x, case: Case):
    """Output and gradients by the Triton op (asserted to have run)."""
    xi = x.detach().requires_grad_('x' in case.grads)
    before = dispatch.calls['triton']
    with use_kernel('triton'), autocast_for(ctx, case.dtype):
        out = layer(xi)
    ran_triton(before)
    if out.numel() == 0:
        return out, [], None
    grad = output_grad(out, case.out_grad)
    if case.out_grad == 'sum':
        got = torch.autograd.grad(out.sum(), leaves(layer, xi, case.grads))
    else:
        got = torch.autograd.grad(out, leaves(layer, xi, case.grads), grad)
    return out, list(got), grad


def run_spec(layer, x, case: Case, grad):
    """Output and gradients by the float64 spec on the values the op saw
    (x rounded to the autocast dtype), gradients by autograd."""
    low = LOW.get(case.dtype.replace('autocast-', ''))
    x64 = (x.to(low) if low is not None else x).double()
    x64.requires_grad_('x' in case.grads)
    params = {n: p.detach().double() for n, p in layer.named_parameters()}
    for name, p in layer.named_parameters():
        params[name].requires_grad_(p.requires_grad)
    w1 = torch.cat([params[f'stage1.{i}.weight'].reshape(-1, 9)
                    for i in range(len(layer.stage1))])  # fmt: skip
    base = None
    if layer.pwc is not None:
        base = F.conv2d(x64, params['pwc.weight'], params.get('pwc.bias'),
                        case.stride)  # fmt: skip
    w2 = params.get('stage2.weight')
    w2 = None if w2 is None else w2.reshape(-1, 9)
    out = context_unit_spec(x64, base, w1, w2, layer.segment_rows,
                            case.stride)  # fmt: skip
    if grad is None:
        return out, []
    wanted = ([x64] if 'x' in case.grads else []) + [
        params[n] for n, p in layer.named_parameters() if p.requires_grad
    ]
    return out, list(torch.autograd.grad(out, wanted, grad.double()))


def check_layer_case(ctx, case: Case) -> float:
    """The op's output and gradients against the float64 spec; returns the
    worst error / tolerance."""
    layer, x = case_layer(ctx, case), case_input(ctx, case)
    out, got, grad = run_op(ctx, layer, x, case)
    if case.layout == 'cl' and out.numel():
        assert out.is_contiguous(memory_format=torch.channels_last), case
    want, want_grads = run_spec(layer, x, case, grad)
    assert len(got) == len(want_grads), case
    return assert_close(
        [out, *got], [want, *want_grads], str(case), TOLERANCE[case.dtype]
    )


def step_layer_cases(ctx):
    cases = layer_cases(ctx.cpu)
    worst = max(check_layer_case(ctx, case) for case in cases)
    largest = max(cases, key=lambda c: c.nhw[1] * c.nhw[2]).nhw
    return (
        f'{len(cases)} cases ({", ".join(TOLERANCE)}; NCHW, channels_last '
        f'and strided; N 0/1/2; 1x1 to {largest[1]}x{largest[2]} maps; x, '
        f'weight and both gradients, random, sum() and expanded output '
        f'gradients), all by the Triton op: worst error / tolerance '
        f'{worst:.2f} against the float64 spec'
    )


# ------------------------------------------------------ 4. fall-backs


#: a side past which an (N=1, C=8) input addresses past int32: 8 * 16400^2
#: = 2,151,680,000 > 2^31 - 1, 8 * 16380^2 = 2,146,435,200 fits
PAST_INT32, WITHIN_INT32 = 16400, 16380
#: the real call's input: (2, 8, 11600, 11600), 2,152,960,000 elements,
#: each image under 2^31 (PyTorch's convs split a batch, not an image)
HUGE = (2, 8, 11600, 11600)


def choice_for(ctx, side: int, grad: bool) -> str:
    """The implementation an (1, 8, side, side) expanded input gets."""
    layer = CPWConv2d(8, 8, pwc=False, stage2=False).to(ctx.device)
    x = torch.zeros(1, device=ctx.device).expand(1, 8, side, side)
    w1 = layer.stage1_kernels()
    with torch.set_grad_enabled(grad), use_kernel('auto'):
        x = x.requires_grad_(grad) if grad else x
        return dispatch.choose_implementation(
            x, None, w1, None, layer.segment_rows, 1
        )


def deterministic_choices(ctx):
    """The choice with and without gradients under deterministic
    algorithms (the previous setting restored)."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    layer = CPWConv2d(8, 8).to(ctx.device)
    x = torch.randn(1, 8, 6, 6, device=ctx.device)
    torch.use_deterministic_algorithms(True)
    try:
        no_grad = choice_for(ctx, 6, False)
        with_grad = choice_for(ctx, 6, True)
        before = dispatch.calls['torch']
        with use_kernel('auto'):
            layer(x.requires_grad_())
        assert dispatch.calls['torch'] == before + 1, dispatch.calls
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    return no_grad, with_grad


def huge_call(ctx) -> str:
    """On a GPU with the memory: a real call on a 2^31-element (expanded)
    input of ones goes to PyTorch and computes stage 1's sum of kernel
    weights inside."""
    if ctx.cpu:
        return 'decision only on the CPU'
    free, _ = torch.cuda.mem_get_info(ctx.device)
    if free < 40 * 2**30:
        return f'decision only ({free / 2**30:.0f} GiB free, 40 needed)'
    layer = CPWConv2d(8, 8, pwc=False, stage2=False).to(ctx.device).half()
    x = torch.ones(1, device=ctx.device, dtype=torch.half).expand(HUGE)
    before = dict(dispatch.calls)
    with torch.no_grad(), use_kernel('auto'):
        out = layer(x)[1, :, 1000, 1000].float()
    assert dispatch.calls['torch'] == before['torch'] + 1, dispatch.calls
    assert dispatch.calls['triton'] == before['triton'], dispatch.calls
    want = layer.stage1_kernels().float().sum(1)
    assert_close([out], [want], 'the 2^31-element call', 1e-2)
    torch.cuda.empty_cache()
    return 'ran on PyTorch convs, right values'


def step_fallbacks(ctx):
    past, within = (
        choice_for(ctx, PAST_INT32, False),
        choice_for(ctx, WITHIN_INT32, False),
    )
    assert (past, within) == ('torch', 'triton'), (past, within)
    no_grad, with_grad = deterministic_choices(ctx)
    assert (no_grad, with_grad) == ('triton', 'torch'), (no_grad, with_grad)
    return (
        f'1x8x{PAST_INT32}^2 (past int32): torch, 1x8x{WITHIN_INT32}^2: '
        f'triton ({huge_call(ctx)}); deterministic algorithms: triton '
        'without gradients, torch with them (and ran there)'
    )


# ------------------------------------------------------ 5. checkpoint


def tiny_resnet(ctx, **kwargs):
    """A small CPWC-ResNet: the stem and stage 1 of CPWC-R50 at base width
    32 (10 CPWC layers, three distinct); on the CPU (the interpreter) base
    width 2 and stage 1's first block only (three CPWC layers)."""
    from mmdet.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='CPWCResNet', depth=50, num_stages=1, strides=(1,),
             dilations=(1,), out_indices=(0,), norm_eval=False,
             base_channels=2 if ctx.cpu else 32, **kwargs)
    ).to(ctx.device)  # fmt: skip
    if ctx.cpu:
        del model.layer1[1:]
    model.train()  # mmdet's ResNet.train returns None
    return model


def grads_of(model, x, run) -> list:
    """The gradients of x and of every parameter after ``run(model, x)``'s
    outputs are summed (an expanded gradient), by ``backward()`` (a
    reentrant checkpoint refuses ``autograd.grad``)."""
    x = x.detach().requires_grad_()
    model.zero_grad(set_to_none=True)
    outs = run(model, x)
    outs = outs if isinstance(outs, (tuple, list)) else [outs]
    sum(o.sum() for o in outs).backward()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [x.grad] + [p.grad for p in params]
    model.zero_grad(set_to_none=True)
    return grads


def checkpointed(reentrant: bool):
    """``run`` for ``grads_of``: the model under torch's checkpoint."""
    from torch.utils.checkpoint import checkpoint

    return lambda m, x: checkpoint(m, x, use_reentrant=reentrant)


def step_checkpoint(ctx):
    torch.manual_seed(0)
    c, z, h, w = (4, 6, 6, 5) if ctx.cpu else (64, 256, 56, 72)
    layer = CPWConv2d(c, z).to(ctx.device)
    x = torch.randn(2, c, h, w, device=ctx.device)
    lines = []
    with use_kernel('auto'):
        plain = grads_of(layer, x, lambda m, t: m(t))
        for reentrant in (True, False):
            before = dispatch.calls['triton']
            got = grads_of(layer, x, checkpointed(reentrant))
            ran_triton(before, 2)  # the forward, then its recompute
            assert_close(got, plain, f'layer, use_reentrant={reentrant}')
        lines.append('a CPWC layer (forward + recompute by Triton)')
        model, model_cp = tiny_resnet(ctx), tiny_resnet(ctx, with_cp=True)
        model_cp.load_state_dict(model.state_dict())
        x = torch.randn(2, 3, *((16, 20) if ctx.cpu else (64, 80)),
                        device=ctx.device)  # fmt: skip
        plain = grads_of(model, x, lambda m, t: m(t))
        with warnings.catch_warnings():  # mmdet passes no use_reentrant
            warnings.simplefilter('ignore')
            got = grads_of(model_cp, x, lambda m, t: m(t))
        assert_close(got, plain, "CPWC-ResNet with mmdet's with_cp", 1e-3)
        got = grads_of(model, x, checkpointed(False))
        assert_close(got, plain, 'CPWC-ResNet, use_reentrant=False', 1e-3)
    lines.append("a CPWC-ResNet (mmdet's with_cp=True and use_reentrant="
                 'False)')  # fmt: skip
    return ', '.join(lines) + ': gradients equal to no checkpoint'


# --------------------------------------------------- 6. torch.compile


def compiled_graph_ops(fn):
    """``fn`` compiled with fullgraph=True by an aot_autograd backend that
    records the cpwc ops of its forward and backward graphs."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    ops = []

    def counting(gm, example_inputs):
        ops.extend(str(n.target) for n in gm.graph.nodes
                   if str(n.target).startswith('cpwc.'))  # fmt: skip
        return make_boxed_func(gm.forward)

    backend = aot_autograd(fw_compiler=counting, bw_compiler=counting)
    return torch.compile(fn, backend=backend, fullgraph=True), ops


def step_compile(ctx):
    torch.manual_seed(0)
    c, z, h, w = (4, 3, 7, 6) if ctx.cpu else (256, 64, 100, 76)
    layer = CPWConv2d(c, z, stride=2).to(ctx.device)
    x = torch.randn(2, c, h, w, device=ctx.device)
    torch._dynamo.reset()
    try:
        with use_kernel('auto'):
            want = grads_of(layer, x, lambda m, t: m(t))
            compiled, ops = compiled_graph_ops(lambda t: layer(t))
            got = grads_of(layer, x, lambda m, t: compiled(t))
    finally:
        torch._dynamo.reset()
    assert ops == [
        'cpwc.context_unit.default',
        'cpwc.context_unit_backward.default',
    ], ops
    assert_close(got, want, 'compiled vs eager')
    return (
        'fullgraph=True: cpwc::context_unit in the forward graph, '
        'cpwc::context_unit_backward in the backward graph; gradients equal '
        'to eager'
    )


# ----------------------------------------------------- 7. CUDA stream


def step_stream(ctx):
    if ctx.cpu:
        raise Skip('no CUDA stream on the CPU')
    torch.manual_seed(0)
    layer = CPWConv2d(256, 64).to(ctx.device)
    x = torch.randn(2, 256, 100, 76, device=ctx.device)
    with torch.no_grad(), use_kernel('triton'):
        want = layer(x)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        before = dispatch.calls['triton']
        with torch.cuda.stream(side):
            torch.cuda._sleep(100_000_000)  # x_side is written late
            x_side = x * 1.0
            got = layer(x_side)
        ran_triton(before)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
    assert_close([got], [want], 'the op on a side stream', 1e-5)
    return 'the op on a side stream, after a delayed producer: equal output'


# ------------------------------------------------------------ 8. tuning


class Features(torch.nn.Module):
    """A backbone as ``tune_cpwc.record_calls`` takes a detector."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone


@contextlib.contextmanager
def counting_measurements():
    """Within the block, every ``kernel_tuning`` measurement is counted in
    the list this yields."""
    counted = []
    saved = kernel_tuning.milliseconds, kernel_tuning.measure

    def counter(fn):
        return lambda *a, **k: counted.append(fn.__name__) or fn(*a, **k)

    kernel_tuning.milliseconds, kernel_tuning.measure = map(counter, saved)
    try:
        yield counted
    finally:
        kernel_tuning.milliseconds, kernel_tuning.measure = saved


def compiled_variants() -> int:
    """Triton kernel variants compiled in this process (0 under the
    interpreter)."""
    from cpwc_mmdet.ops import triton_context_kernels as kernels

    total = 0
    for name in ('context_forward_kernel', 'stage2_backward_kernel',
                 'stage1_backward_kernel'):  # fmt: skip
        caches = getattr(getattr(kernels, name), 'device_caches', {})
        total += sum(len(c[0]) for c in caches.values())
    return total


def step_tuning(ctx):
    tune_cpwc = load_tool('tune_cpwc')
    model = Features(tiny_resnet(ctx))
    size, amp = ((16, 20), None) if ctx.cpu else ((256, 320), torch.float16)
    start = time.perf_counter()
    batch = 1 if ctx.cpu else 2
    calls = tune_cpwc.record_calls(model, ctx.device, [size], batch, amp)
    tables = kernel_tuning.tune(calls)
    path = tune_cpwc.save(tables, ctx.device)
    tuned = time.perf_counter() - start
    compiled = compiled_variants()
    before = dict(dispatch.calls)
    start = time.perf_counter()
    with counting_measurements() as measured:
        again = tune_cpwc.record_calls(model, ctx.device, [size], batch, amp)
    rerun = time.perf_counter() - start
    assert not measured, f'the second run measured: {measured[:3]}'
    read = kernel_choices.tables(ctx.device)['implementation']
    assert read == tables['implementation'], 'the choices file was not read'
    keys = [c.problem.key() for c in again]
    assert all(k in read for k in keys), 'a problem is not in the file'
    want = dict(collections.Counter(read[k] for k in keys))
    ran = {k: dispatch.calls[k] - n for k, n in before.items()}
    assert {k: n for k, n in ran.items() if n} == want, (ran, want)
    picks = list(tables['implementation'].values())
    return (
        f'{len(picks)} problems tuned ({picks.count("triton")} Triton, '
        f'{picks.count("torch")} PyTorch) in {tuned:.0f} s, saved to a '
        f'temporary {os.path.basename(path)}; '
        f'the second run read them, measured nothing, compiled '
        f'{compiled_variants() - compiled} new kernel variants, took '
        f'{rerun:.1f} s'
    )


# ------------------------------------------------- 9-11. whole networks


def backbones(ctx):
    """ResNet-50, CPWC-R50 and CoC-R50 (base width 8 on the CPU), built
    once."""
    from mmdet.registry import MODELS

    if not ctx.models:
        width = 8 if ctx.cpu else 64
        for name, cfg in (
            ('ResNet-50', dict(type='ResNet', depth=50)),
            ('CPWC-R50', dict(type='CPWCResNet', depth=50)),
            ('CoC-R50', dict(type='CoCResNet', depth=50)),
        ):
            model = MODELS.build(
                dict(cfg, base_channels=width, norm_eval=False)
            )
            model.to(ctx.device).train()  # mmdet's train() returns None
            ctx.models[name] = model
    return ctx.models


def network_input(ctx) -> torch.Tensor:
    n, h, w = (1, 32, 48) if ctx.cpu else (2, 800, 1216)
    return torch.randn(n, 3, h, w, device=ctx.device)


def fwd_bwd(ctx, model, x, autocast: bool):
    with torch.autocast(ctx.device.type, dtype=torch.bfloat16,
                        enabled=autocast):  # fmt: skip
        outs = model(x)
    sum(o.float().mean() for o in outs).backward()
    model.zero_grad(set_to_none=True)


def step_amp_steps(ctx):
    from mmdet.registry import MODELS

    model = MODELS.build(
        dict(type='CPWCResNet', depth=50, base_channels=8 if ctx.cpu else 32)
    ).to(ctx.device)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler(ctx.device.type)
    dtype = torch.bfloat16 if ctx.cpu else torch.float16
    x = torch.randn(2, 3, 64, 64, device=ctx.device)
    losses, before = [], dispatch.calls['triton']
    for _ in range(3 if ctx.cpu else 5):
        with torch.autocast(ctx.device.type, dtype=dtype), \
                ctx.network_kernel():  # fmt: skip
            loss = sum(o.float().square().mean() for o in model(x))
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))), losses
    assert all(torch.isfinite(p).all() for p in model.parameters())
    by = dispatch.calls['triton'] - before
    return (
        f'{len(losses)} steps, {dtype} autocast, GradScaler: losses '
        + ' '.join(f'{v:.3g}' for v in losses)
        + f', scale {scaler.get_scale():g}; {by} CPWC calls by Triton'
    )


def peak_bytes(ctx, model, x) -> int:
    """Peak CUDA memory of a forward + backward above what was allocated
    before; on the CPU the bytes saved for backward."""
    if ctx.cpu:
        return saved_for_backward_bytes(
            lambda: sum(o.float().mean() for o in model(x))
        )
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(ctx.device)
    start = torch.cuda.memory_allocated(ctx.device)
    fwd_bwd(ctx, model, x, autocast=False)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(ctx.device) - start


def step_memory(ctx):
    models, x = backbones(ctx), network_input(ctx)
    with ctx.network_kernel():
        peak = {name: peak_bytes(ctx, m, x) for name, m in models.items()}
    base = peak['ResNet-50']
    what = 'saved for backward' if ctx.cpu else 'peak CUDA memory'
    return (
        f'{what}, fp32 fwd+bwd, batch {x.shape[0]} at {x.shape[2]}x'
        f'{x.shape[3]}: ResNet-50 {base / 2**20:.0f} MiB, '
        + ', '.join(
            f'{k} {peak[k] / 2**20:.0f} MiB ({peak[k] / base:.2f}x)'
            for k in ('CPWC-R50', 'CoC-R50')
        )
    )


def fwd_bwd_medians(ctx, models, x, autocast, repeats):
    """Median ms of forward + backward, the models interleaved."""
    times = {name: [] for name in models}
    for round_ in range(repeats + 1):
        for name, model in models.items():
            ctx.sync()
            start = time.perf_counter()
            fwd_bwd(ctx, model, x, autocast)
            ctx.sync()
            if round_:  # the first round warms up (Triton compiles)
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def step_speed(ctx):
    models, x = backbones(ctx), network_input(ctx)
    lines, before = [], dict(dispatch.calls)
    for autocast in (False, True):
        with ctx.network_kernel():
            ms = fwd_bwd_medians(ctx, models, x, autocast, 1 if ctx.cpu else 3)
        base = ms['ResNet-50']
        lines.append(
            ('autocast bf16' if autocast else 'fp32')
            + f': ResNet-50 {base:.1f} ms, '
            + ', '.join(
                f'{k} {ms[k] / base:.2f}x' for k in ('CPWC-R50', 'CoC-R50')
            )
        )
    by = {k: dispatch.calls[k] - before[k] for k in ('triton', 'torch')}
    return (
        f'fwd+bwd, batch {x.shape[0]} at {x.shape[2]}x{x.shape[3]}, median '
        'of interleaved runs: '
        + '; '.join(lines)
        + f' (CPWC calls: {by["triton"]} Triton, {by["torch"]} PyTorch)'
    )


# ---------------------------------------------------- 12. toy training


def train_command(data, work, iters, total, first, resume):
    """``tools/train.py --amp`` on the toy set for ``iters`` iterations."""
    root = data + '/'
    options = [
        f'{split}_dataloader.dataset.data_root={root}'
        for split in ('train', 'val', 'test')
    ] + [
        f'val_evaluator.ann_file={root}annotations/instances_val.json',
        'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=1',
        'default_hooks.logger.interval=1',
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={total}',
        f'default_hooks.checkpoint.interval={first}',
    ]
    return [
        sys.executable,
        os.path.join(ROOT, 'tools', 'train.py'),
        os.path.join(ROOT, 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'),
        '--work-dir', work, '--amp',
        *(['--resume'] if resume else []),
        '--cfg-options', *options,
    ]  # fmt: skip


def run_within_step(ctx, command) -> subprocess.CompletedProcess:
    """``command``, killed when the step's time is up."""
    timeout = max(ctx.step_left() - 2, 1)
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True,
                                text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise StepTimeout(f'train.py ran past {timeout:.0f} s') from None
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def step_toy_training(ctx):
    if ctx.cpu:
        raise Skip(
            'no --amp on the CPU; train.py and --resume on the CPU are '
            "tests/test_engine/test_checkpoint_safety.py's"
        )
    from cpwc_mmdet.datasets import make_toy_coco

    data = os.path.join(ctx.tmp, 'toy_coco')
    make_toy_coco(data, num_train=8, num_val=4, seed=0)
    work = os.path.join(ctx.tmp, 'train')
    total, first = 30, 15
    run_within_step(ctx, train_command(data, work, first, total, first, False))
    result = run_within_step(
        ctx, train_command(data, work, total, total, first, True)
    )
    with open(os.path.join(work, 'last_checkpoint')) as f:
        last = f.read().strip()
    assert last.endswith(f'iter_{total}.pth'), last
    log = result.stdout + result.stderr
    assert f'[{total}/{total}]' in log, log[-2000:]
    return (
        f'{first} iterations, then --resume to {total} (--amp): '
        f'{os.path.basename(last)}, COCO evaluation ran'
    )


# ------------------------------------------------------------- running


class Step(NamedTuple):
    """A step: its name, function, expected seconds on one H100 with a
    cold Triton cache (estimated, see the module docstring) and with
    ``--cpu`` (measured), and whether it needs the Triton op."""

    name: str
    run: Callable
    gpu_s: float
    cpu_s: float
    triton: bool = False


STEPS = [
    Step('versions', step_versions, 5, 1),
    Step('mmcv RoIAlign, NMS vs torchvision', step_mmcv_ops, 5, 2),
    Step('Triton op vs the float64 spec', step_layer_cases, 90, 30, True),
    Step('fall-backs: int32, deterministic', step_fallbacks, 10, 1, True),
    Step('with_cp: checkpoint both ways', step_checkpoint, 15, 30, True),
    Step('torch.compile fullgraph', step_compile, 15, 8, True),
    Step('non-default CUDA stream', step_stream, 5, 1, True),
    Step('tuning: tune, save, read back', step_tuning, 65, 25, True),
    Step('AMP steps with a grad scaler', step_amp_steps, 25, 15),
    Step('peak memory: CPWC-R50, CoC-R50 vs ResNet-50', step_memory, 35, 8),
    Step('speed: CPWC-R50, CoC-R50 vs ResNet-50', step_speed, 40, 15),
    Step('toy train.py --amp, --resume', step_toy_training, 75, 1),
]


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise :class:`StepTimeout` in the block after ``seconds``."""

    def expire(signum, frame):
        raise StepTimeout(f'stopped after its limit of {seconds:.0f} s')

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_step(ctx, step: Step) -> tuple:
    """``(status, detail)`` of one step, within its time limit."""
    expected = step.cpu_s if ctx.cpu else step.gpu_s
    reason = dispatch.triton_unavailable() if step.triton else ''
    if reason:
        return 'SKIP', f'the Triton op is unavailable: {reason}'
    if ctx.left() < expected:
        return 'SKIP', (f'over the budget: needs ~{expected:.0f} s, '
                        f'{max(ctx.left(), 0):.0f} s left')  # fmt: skip
    limit = min(ctx.left(), 2 * expected + 30)
    ctx.step_deadline = time.monotonic() + limit
    try:
        with time_limit(limit):
            return 'PASS', step.run(ctx)
    except Skip as why:
        return 'SKIP', str(why)
    except Exception as err:  # a failing step is reported, not raised
        tail = traceback.format_exc().strip().splitlines()[-6:]
        return 'FAIL', f'{type(err).__name__}: {err}\n' + '\n'.join(tail)


def report(results, ctx, out):
    """The results as JSON at ``out`` (atomically), when asked for."""
    if out:
        counts = collections.Counter(r['status'] for r in results)
        record = dict(
            tool=TOOL, device=ctx.device_name(), budget_s=ctx.budget,
            elapsed_s=round(time.monotonic() - START, 1), steps=results,
            summary={s: counts[s] for s in ('PASS', 'FAIL', 'SKIP')},
        )  # fmt: skip
        atomic_write(json.dumps(record, indent=1) + '\n', out)


def print_result(number, name, status, seconds, detail):
    first, *rest = detail.splitlines() or ['']
    timing = '' if status == 'SKIP' else f' ({seconds:.0f} s)'
    print(f'[{status}] {number}. {name}{timing}: {first}')
    for line in rest:
        print(f'       {line}')
    sys.stdout.flush()


def run_steps(ctx, wanted, out) -> list:
    """Run the wanted steps in order; print and record each."""
    results = []
    for number, step in enumerate(STEPS, 1):
        if number not in wanted:
            continue
        start = time.monotonic()
        status, detail = run_step(ctx, step)
        seconds = time.monotonic() - start
        print_result(number, step.name, status, seconds, detail)
        results.append(dict(number=number, name=step.name, status=status,
                            seconds=round(seconds, 1),
                            detail=detail))  # fmt: skip
        report(results, ctx, out)
    return results


def summary(results, ctx) -> str:
    counts = collections.Counter(r['status'] for r in results)
    over = sum(
        r['status'] == 'SKIP' and r['detail'].startswith('over the budget')
        for r in results
    )
    skips = f'{counts["SKIP"]} SKIP'
    if over:
        skips += f' ({over} over the budget)'
    return (
        f'SUMMARY: {counts["PASS"]} PASS, {counts["FAIL"]} FAIL, {skips} in '
        f'{time.monotonic() - START:.0f} s of a {ctx.budget:.0f} s budget '
        f'({ctx.device_name()})'
    )


def parse_steps(text: str) -> set:
    """``--steps``: comma-separated numbers of existing steps."""
    items = [t.strip() for t in text.split(',')]
    if not any(items):
        raise ValueError('--steps selects nothing')
    bad = [t for t in items if not (t.isdigit() and 1 <= int(t) <= len(STEPS))]
    if bad:
        raise ValueError(
            f'--steps takes step numbers 1-{len(STEPS)}, got {bad[0]!r}'
        )
    return {int(t) for t in items}


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--cpu',
        action='store_true',
        help='no GPU: the reduced steps on the CPU (Triton interpreter)',
    )
    parser.add_argument(
        '--steps', help='comma-separated step numbers (default: all)'
    )
    parser.add_argument(
        '--budget', type=float, default=540.0,
        help='seconds for the whole run (default 540)',
    )  # fmt: skip
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args(argv)
    try:
        args.steps = (
            set(range(1, len(STEPS) + 1))
            if args.steps is None
            else parse_steps(args.steps)
        )
    except ValueError as err:
        parser.error(str(err))
    if not args.budget > 0:
        parser.error(f'--budget must be positive, got {args.budget:g}')
    if args.out and os.path.isdir(args.out):
        parser.error(f'--out {args.out} is a folder; give a file path')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.cpu and os.environ.get('TRITON_INTERPRET') != '1':
        print(
            f'{TOOL}: error: --cpu must be given on the command line',
            file=sys.stderr,
        )
        return 2
    if not args.cpu and not torch.cuda.is_available():
        print(
            f'{TOOL}: error: no CUDA device is visible (--cpu runs the '
            'reduced steps on the CPU)',
            file=sys.stderr,
        )
        return 2
    ctx = Context(args.cpu, args.budget)
    try:
        try:  # an unwritable --out fails now, not after the steps
            report([], ctx, args.out)
        except OSError as err:
            print(f'{TOOL}: error: cannot write --out {args.out}: {err}',
                  file=sys.stderr)  # fmt: skip
            return 2
        results = run_steps(ctx, args.steps, args.out)
    finally:
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    print(summary(results, ctx))
    return 1 if any(r['status'] == 'FAIL' for r in results) else 0


if __name__ == '__main__':
    sys.exit(main())
