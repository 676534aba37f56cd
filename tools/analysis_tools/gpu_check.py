"""Check the GPU path step by step: PASS / FAIL per step, and the ratios.

Usage::

    python tools/analysis_tools/gpu_check.py            # one CUDA GPU, < 10 min
    python tools/analysis_tools/gpu_check.py --cpu      # no GPU: reduced

Steps:

1. versions, and mmcv's CUDA ops (RoIAlign, NMS) on a CUDA tensor: an mmcv
   built without them fails here, where ``import mmcv.ops`` succeeds;
2. the Triton op against PyTorch convs and against the spec's loop, on the
   layer cases of the tests: float32, float16, bfloat16, autocast; NCHW and
   channels_last; N = 0, 1, 2; tiny and large maps; the output and each
   gradient branch (x only, weights only, both);
3. the dispatch's times: a layer's first call (it measures), a new shape in
   the same size bucket, a cached call;
4. CPWC-R50 and CoC-R50 forward + backward next to ResNet-50, batch 2 at
   800x1216, in float32 and under autocast (bfloat16), models interleaved;
5. a few AMP steps with a gradient scaler (CPWC-R50, a toy loss);
6. ``tools/train.py --amp`` on the toy set: 30 iterations, stopped at 15
   and continued with ``--resume``.

``--cpu`` runs the same steps on the CPU, with tiny cases and models: the
Triton op under Triton's interpreter (set before anything imports Triton)
in steps 2 and 3, PyTorch convs in the whole-network steps 4 and 5 (the
interpreter would take hours there), and the toy training without
``--amp`` (mmengine's AMP needs CUDA). It shows the script runs before
anyone has a GPU (the tests run it). Exit code: 0 when every step passed,
1 otherwise.
"""

import os
import sys

if __name__ == '__main__' and '--cpu' in sys.argv:
    # Triton decides on its interpreter when kernels are defined
    os.environ['TRITON_INTERPRET'] = '1'

import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import torch  # noqa: E402

import cpwc_mmdet  # noqa: E402,F401  (registers the modules)
from cpwc_mmdet.cli import ArgumentParser
from cpwc_mmdet.layers import CPWConv2d  # noqa: E402
from cpwc_mmdet.ops import (  # noqa: E402
    cpu_kernels,
    dispatch,
    gpu_choice,
    segment_rows,
    use_kernel,
)
from cpwc_mmdet.ops.spec_reference import context_unit_spec  # noqa: E402

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
#: worst |error| allowed, times the largest expected value, by dtype (the
#: low-precision cases round the output, gs and the gradients)
TOLERANCE = {'fp32': 1e-4, 'fp16': 4e-3, 'bf16': 2e-2, 'autocast': 3e-2}
DTYPES = {
    'fp32': torch.float32,
    'fp16': torch.float16,
    'bf16': torch.bfloat16,
    'autocast': torch.float32,
}


class Context:
    """Where the steps run and how big they are."""

    def __init__(self, cpu: bool):
        self.cpu = cpu
        self.device = torch.device('cpu' if cpu else 'cuda')
        self.tmp = tempfile.mkdtemp(prefix='gpu_check_')
        if cpu:  # the op takes CPU tensors under the interpreter, and the
            # fused CPU kernel stands aside, as on a GPU
            dispatch.TRITON_DEVICE_TYPES = ('cuda', 'cpu')
            cpu_kernels.module = None

    def sync(self):
        if not self.cpu:
            torch.cuda.synchronize()

    def network_kernel(self):
        """What the whole-network steps run: the default on a GPU,
        PyTorch convs on the CPU (the interpreter is far too slow)."""
        return use_kernel('torch' if self.cpu else 'auto')

    def device_name(self):
        if self.cpu:
            return 'CPU, Triton interpreter'
        return torch.cuda.get_device_name()


# ------------------------------------------------------------------ steps


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
    if reason:
        raise RuntimeError(f'the Triton op is unavailable: {reason}')
    if not ctx.cpu:
        cap = torch.cuda.get_device_capability()
        parts.append(
            f'{torch.cuda.get_device_name()} (sm_{cap[0]}{cap[1]}), '
            f'CUDA {torch.version.cuda}'
        )
    from mmcv.ops import RoIAlign, nms

    feats = torch.rand(1, 4, 16, 16, device=ctx.device)
    rois = torch.tensor([[0, 1.0, 1.0, 9.0, 9.0]], device=ctx.device)
    pooled = RoIAlign(3, spatial_scale=1.0, sampling_ratio=0)(feats, rois)
    boxes = torch.tensor(
        [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30.0]],
        device=ctx.device,
    )
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7], device=ctx.device), 0.5)
    assert pooled.shape == (1, 4, 3, 3) and keep.tolist() == [0, 2], keep
    parts.append(f'mmcv.ops RoIAlign and nms on {ctx.device.type}')
    return ', '.join(parts)


def layer_cases(cpu):
    """(C, Z, stride, stage2, pwc, dtype, channels_last, (N, H, W), grads)."""
    small = [
        (4, 4, 1, True, True, 'fp32', False, (2, 6, 5), 'xw'),
        (7, 3, 2, True, True, 'fp32', True, (1, 7, 6), 'x'),
        (3, 7, 1, True, False, 'bf16', True, (1, 6, 5), 'w'),
        (5, 9, 2, False, True, 'fp16', False, (1, 7, 6), 'xw'),
        (4, 4, 1, True, True, 'autocast', True, (1, 6, 5), 'xw'),
        (4, 8, 1, True, True, 'fp32', False, (0, 6, 5), 'xw'),
        (8, 4, 1, True, True, 'fp32', True, (1, 1, 1), 'xw'),
    ]
    if cpu:
        return small
    large = [
        (64, 256, 1, True, True, dtype, cl, (2, 56, 72), grads)
        for dtype in ('fp32', 'bf16', 'fp16', 'autocast')
        for cl, grads in ((True, 'xw'), (False, 'x'))
    ]
    large += [
        (256, 64, 2, True, True, 'fp32', True, (2, 100, 76), 'w'),
        (1024, 256, 1, True, True, 'bf16', True, (1, 50, 38), 'xw'),
        (2048, 512, 1, True, True, 'autocast', True, (2, 25, 19), 'xw'),
        (512, 2048, 2, True, True, 'fp32', False, (1, 50, 38), 'xw'),
        (256, 256, 1, False, False, 'fp16', True, (1, 1, 3), 'xw'),
    ]
    return small + large


def check_layer_case(ctx, case):
    """The op's output and gradients against PyTorch convs (in the case's
    dtype) and against the spec's loop (float64); returns error / tol."""
    c, z, stride, stage2, pwc, dtype, cl, (n, h, w), grads = case
    torch.manual_seed(0)
    layer = CPWConv2d(c, z, stride=stride, stage2=stage2, pwc=pwc, bias=pwc)
    layer = layer.to(ctx.device)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    x = torch.randn(n, c, h, w, device=ctx.device)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    low = DTYPES[dtype]
    if dtype in ('fp16', 'bf16'):
        layer.to(low)
        x = x.to(low)
    layer.requires_grad_('w' in grads)

    def run(mode):
        xi = x.detach().requires_grad_('x' in grads)
        with use_kernel(mode), torch.autocast(
            ctx.device.type, dtype=torch.bfloat16, enabled=dtype == 'autocast'
        ):
            out = layer(xi)
        leaves = ([xi] if 'x' in grads else []) + [
            p for p in layer.parameters() if p.requires_grad
        ]
        seed = torch.Generator(device=ctx.device).manual_seed(1)
        grad = torch.randn(
            out.shape, generator=seed, device=ctx.device, dtype=out.dtype
        )
        got = torch.autograd.grad(out, leaves, grad) if out.numel() else []
        return out, list(got), grad

    triton_out, triton_grads, grad = run('triton')
    torch_out, torch_grads, _ = run('torch')
    if cl and triton_out.numel():
        assert triton_out.is_contiguous(memory_format=torch.channels_last)
    tol = TOLERANCE[dtype]
    worst = 0.0
    for got, want in zip(
        [triton_out, *triton_grads], [torch_out, *torch_grads]
    ):
        scale = want.float().abs().max().item() if want.numel() else 1.0
        err = (
            (got.float() - want.float()).abs().max().item()
            if got.numel()
            else 0.0
        )
        worst = max(worst, err / (tol * max(scale, 1e-6)))
    # the spec's loop, float64, on the same weights
    ws = [m.weight.double() for m in layer.stage1]
    w1 = torch.cat([v.reshape(-1, 9) for v in ws])
    base = None
    if layer.pwc is not None:
        base = torch.nn.functional.conv2d(
            x.double(),
            layer.pwc.weight.double(),
            layer.pwc.bias.double(),
            stride,
        )
    w2 = None if layer.stage2 is None else layer.stage2.weight.double()
    spec = context_unit_spec(
        x.double(), base, w1, w2, segment_rows(c, z), stride
    )
    if spec.numel():
        scale = spec.abs().max().item()
        err = (triton_out.double() - spec).abs().max().item()
        worst = max(worst, err / (tol * max(scale, 1e-6)))
    assert worst <= 1.0, f'{case}: error / tolerance {worst:.2f}'
    return worst


def step_layer_cases(ctx):
    cases = layer_cases(ctx.cpu)
    worst = max(check_layer_case(ctx, case) for case in cases)
    dtypes = sorted({c[5] for c in cases})
    largest = max(cases, key=lambda c: c[7][1] * c[7][2])[7]
    return (
        f'{len(cases)} cases ({", ".join(dtypes)}; NCHW and channels_last; '
        f'N 0/1/2; 1x1 to {largest[1]}x{largest[2]} maps; x, weight and '
        f'both gradients): worst error / tolerance {worst:.2f} against '
        "PyTorch and the spec's loop"
    )


def step_dispatch_times(ctx):
    gpu_choice.reset()
    os.environ['XDG_CACHE_HOME'] = os.path.join(ctx.tmp, 'cache')
    c, z, hw = (4, 8, 6) if ctx.cpu else (256, 64, 96)
    layer = CPWConv2d(c, z).to(ctx.device)

    def timed(h, w):
        x = torch.randn(2, c, h, w, device=ctx.device)
        ctx.sync()
        start = time.perf_counter()
        with use_kernel('auto'), torch.no_grad():
            layer(x)
        ctx.sync()
        return (time.perf_counter() - start) * 1e3

    first = timed(hw, hw)
    measured = gpu_choice.stats['measurements']
    other = timed(hw + 1, hw - 1)  # another shape, the same size bucket
    cached = statistics.median(timed(hw, hw) for _ in range(3))
    assert measured == 1 == gpu_choice.stats['measurements'], (
        measured,
        gpu_choice.stats,
    )
    choice = next(iter(gpu_choice.chosen().values()))
    return (
        f'first call {first:.1f} ms (measures both, chose {choice}), new '
        f'shape in its bucket {other:.1f} ms, cached {cached:.1f} ms; '
        f'choices kept in {gpu_choice.cache_path(ctx.device)}'
    )


def backbones(ctx):
    from mmdet.registry import MODELS

    width = 8 if ctx.cpu else 64
    built = []
    for name, cfg in (
        ('ResNet-50', dict(type='ResNet', depth=50)),
        ('CPWC-R50', dict(type='CPWCResNet', depth=50)),
        ('CoC-R50', dict(type='CoCResNet', depth=50)),
    ):
        model = MODELS.build(dict(cfg, base_channels=width, norm_eval=False))
        built.append((name, model.to(ctx.device)))
    return built


def fwd_bwd_medians(ctx, models, x, autocast, repeats):
    """Median ms of forward + backward, the models interleaved."""
    times = {name: [] for name, _ in models}
    for round_ in range(repeats + 1):
        for name, model in models:
            model.train()
            ctx.sync()
            start = time.perf_counter()
            with torch.autocast(
                ctx.device.type, dtype=torch.bfloat16, enabled=autocast
            ):
                outs = model(x)
            sum(o.float().mean() for o in outs).backward()
            ctx.sync()
            if round_:  # the first round warms up (and measures)
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def step_speed(ctx):
    models = backbones(ctx)
    n, h, w = (1, 64, 96) if ctx.cpu else (2, 800, 1216)
    x = torch.randn(n, 3, h, w, device=ctx.device)
    lines = []
    for autocast in (False, True):
        with ctx.network_kernel():
            ms = fwd_bwd_medians(ctx, models, x, autocast, 1 if ctx.cpu else 5)
        base = ms['ResNet-50']
        lines.append(
            ('autocast bf16' if autocast else 'fp32')
            + f': ResNet-50 {base:.1f} ms, '
            + ', '.join(
                f'{k} {ms[k] / base:.2f}x' for k in ('CPWC-R50', 'CoC-R50')
            )
        )
    picks = list(gpu_choice.chosen().values())
    return (
        f'fwd+bwd, batch {n} at {h}x{w}, median of interleaved runs: '
        + '; '.join(lines)
        + f' (auto chose Triton for {picks.count("triton")} of '
        f'{len(picks)} layer problems)'
    )


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
    losses = []
    for _ in range(3 if ctx.cpu else 5):
        with torch.autocast(
            ctx.device.type, dtype=dtype
        ), ctx.network_kernel():
            loss = sum(o.float().square().mean() for o in model(x))
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))), losses
    assert all(torch.isfinite(p).all() for p in model.parameters())
    return (
        f'{len(losses)} steps, {dtype} autocast, GradScaler: losses '
        + ' '.join(f'{v:.3g}' for v in losses)
        + f', scale {scaler.get_scale():g}'
    )


def step_toy_training(ctx):
    from cpwc_mmdet.datasets import make_toy_coco

    data = os.path.join(ctx.tmp, 'toy_coco')
    make_toy_coco(data, num_train=8, num_val=4, seed=0)
    work = os.path.join(ctx.tmp, 'train')
    total, first = (4, 2) if ctx.cpu else (30, 15)
    root = data + '/'
    options = [
        f'{split}_dataloader.dataset.data_root={root}'
        for split in ('train', 'val', 'test')
    ] + [
        f'val_evaluator.ann_file={root}annotations/instances_val.json',
        'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=1',
        'default_hooks.logger.interval=1',
    ]

    def train(iters, resume):
        command = [
            sys.executable,
            os.path.join(ROOT, 'tools', 'train.py'),
            os.path.join(ROOT, 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'),
            '--work-dir',
            work,
            *([] if ctx.cpu else ['--amp']),
            *(['--resume'] if resume else []),
            '--cfg-options',
            *options,
            f'train_cfg.max_iters={iters}',
            f'train_cfg.val_interval={total}',
            f'default_hooks.checkpoint.interval={first}',
        ]
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result

    train(first, resume=False)
    result = train(total, resume=True)
    with open(os.path.join(work, 'last_checkpoint')) as f:
        last = f.read().strip()
    assert last.endswith(f'iter_{total}.pth'), last
    log = result.stdout + result.stderr
    assert 'resumed' in log.lower() or f'Iter(train) [{total}/{total}]' in log
    return (
        f'{first} iterations, then --resume to {total}'
        + ('' if ctx.cpu else ' (--amp)')
        + f': {os.path.basename(last)}, COCO evaluation ran'
    )


STEPS = [
    ('versions and mmcv CUDA ops', step_versions),
    ('Triton op vs PyTorch vs the spec', step_layer_cases),
    ('dispatch: first, new-shape and cached calls', step_dispatch_times),
    ('speed: CPWC-R50, CoC-R50 vs ResNet-50', step_speed),
    ('AMP steps with a grad scaler', step_amp_steps),
    ('toy train.py --amp, --resume', step_toy_training),
]


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
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.cpu and os.environ.get('TRITON_INTERPRET') != '1':
        print(
            'gpu_check.py: error: --cpu must be given on the command line',
            file=sys.stderr,
        )
        return 2
    if not args.cpu and not torch.cuda.is_available():
        print(
            'gpu_check.py: error: no CUDA device is visible (--cpu runs the '
            'reduced steps on the CPU)',
            file=sys.stderr,
        )
        return 2
    ctx = Context(args.cpu)
    wanted = set(args.steps.split(',')) if args.steps else None
    passed = failed = 0
    for number, (name, step) in enumerate(STEPS, 1):
        if wanted is not None and str(number) not in wanted:
            continue
        start = time.perf_counter()
        try:
            detail = step(ctx)
        except Exception as err:  # a failing step is reported, not raised
            failed += 1
            print(f'[FAIL] {number}. {name}: {type(err).__name__}: {err}')
            for line in traceback.format_exc().strip().splitlines()[-6:]:
                print(f'       {line}')
        else:
            passed += 1
            seconds = time.perf_counter() - start
            print(f'[PASS] {number}. {name} ({seconds:.0f} s): {detail}')
        sys.stdout.flush()
    print(f'SUMMARY: {passed} PASS, {failed} FAIL ({ctx.device_name()})')
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
