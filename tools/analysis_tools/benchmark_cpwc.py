"""Latency of CPWC and CoC backbones next to mmdet's ResNet-50, in one run.

Usage::

    python tools/analysis_tools/benchmark_cpwc.py [--device cpu|cuda]
        [--threads 2] [--batch 4] [--size 224] [--iters 20] [--warmup 5]
        [--dtype fp32|bf16] [--no-channels-last] [--no-detector]
        [--coc-training] [--no-huge-pages]

Prints, for ResNet-50 / CPWCResNet-50 / CoCResNet-50 (train and deploy
form): median forward latency (eval, no grad) and median forward+backward
time (train forms), each as a ratio to the plain ResNet-50 measured in the
same run; then where CPWC's extra time goes (per-op profile); then one
training iteration of the toy Faster R-CNN C4 CPWC vs its baseline, in
``--dtype`` (bf16: the backbone and the C4 shared head, where the convs
are, under autocast; the RPN and box heads stay float32, as mmcv's NMS and
RoIAlign take no bfloat16) and channels_last on CUDA.

CPWC rows: on CPU, the train form, the deploy form (its inference runs
``cpwc::fused_context_unit_``, the fused C++ kernel, when it is built) and
the deploy form on PyTorch convs alone. On CUDA (``cudnn.benchmark`` on),
the Triton op ``cpwc::context_unit`` (``CPWC_KERNEL=triton``), PyTorch
convs (``=torch``) and the per-layer choice (``=auto``: the choices file
``tune_cpwc.py`` wrote for this GPU, else the rule).
Beside the times, each trainable row gives the MiB autograd saves for
backward in one training forward (``saved_for_backward_bytes``): what
bounds a GPU user's batch, counted the same on any device.
The last line is CPWC's inference ratio (deploy form on CPU, Triton on CUDA).

``--coc-training`` adds CoC-R50's training step (forward+backward) next
to ResNet-50's at batch 4 x 224 x 224 and 2 x 800 x 1216, interleaved.

On CPU the script sets PyTorch's ``THP_MEM_ALLOC_ENABLE=1`` (allocations of
2 MB and more on huge pages) unless it is set already or
``--no-huge-pages`` is given: a CoC training step allocates its weights
afresh, and a page fault per 4 kB of them is otherwise a tenth of the step
on a virtual machine. Both models run under the same setting; the first
line says which.
"""

import contextlib
import copy
import os
import statistics
import sys
import time

if '--no-huge-pages' not in sys.argv:
    # read by PyTorch's CPU allocator at its first large allocation
    os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')

import torch  # noqa: E402

import cpwc_mmdet  # noqa: F401  (registers modules)
from cpwc_mmdet.cli import ArgumentParser
from cpwc_mmdet.conversion import switch_model_to_deploy
from cpwc_mmdet.ops import (
    cpu_kernels_available,
    cpu_kernels_reason,
    kernel_choices,
    use_kernel,
)
from cpwc_mmdet.utils.saved_memory import saved_for_backward_bytes
from cpwc_mmdet.utils.text_table import format_table


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument(
        '--threads', type=int, default=2, help='torch CPU threads'
    )
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--dtype', default='fp32', choices=['fp32', 'bf16'])
    parser.add_argument('--no-channels-last', action='store_true')
    parser.add_argument(
        '--no-detector',
        action='store_true',
        help='skip the toy Faster R-CNN iteration',
    )
    parser.add_argument('--no-backward', action='store_true')
    parser.add_argument(
        '--coc-training',
        action='store_true',
        help='time CoC-R50 training next to ResNet-50 at 4x224 and 2x800x1216',
    )
    parser.add_argument(
        '--no-huge-pages',
        action='store_true',
        help='leave THP_MEM_ALLOC_ENABLE unset (CPU)',
    )
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is visible')
    return args


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def interleaved_medians(fns, iters, warmup, device, rounds=5):
    """Median ms of each of ``fns``, timed round-robin (a few calls of each
    per round) so that drift of the machine hits every entry alike."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    per_round = max(1, iters // rounds)
    for _ in range(rounds):
        for fn, bucket in zip(fns, times):
            for _ in range(per_round):
                sync(device)
                start = time.perf_counter()
                fn()
                sync(device)
                bucket.append((time.perf_counter() - start) * 1e3)
    return [statistics.median(t) for t in times]


#: rows -> CPWC_KERNEL while they run (the others run with the default)
KERNEL_ROWS = {
    'CPWC-R50, Triton': 'triton',
    'CPWC-R50, PyTorch convs': 'torch',
    'CPWC-R50, auto': 'auto',
    'CPWC-R50 deploy, PyTorch convs': 'torch',
}
CUDA_KERNEL_ROWS = (
    'CPWC-R50, Triton',
    'CPWC-R50, PyTorch convs',
    'CPWC-R50, auto',
)


def cuda_kernel(row):
    """The kernel mode of ``row`` while it runs (``use_kernel``)."""
    mode = KERNEL_ROWS.get(row)
    return contextlib.nullcontext() if mode is None else use_kernel(mode)


def build_backbones(device='cpu'):
    """(name, model, whether to time its backward)."""
    from mmdet.registry import MODELS

    plain = MODELS.build(dict(type='ResNet', depth=50))
    cpwc = MODELS.build(dict(type='CPWCResNet', depth=50))
    coc = MODELS.build(dict(type='CoCResNet', depth=50))
    if device == 'cuda':
        coc_deploy = copy.deepcopy(coc)
        switch_model_to_deploy(coc_deploy)
        return (
            [('ResNet-50', plain, True)]
            + [(name, copy.deepcopy(cpwc), True) for name in CUDA_KERNEL_ROWS]
            + [
                ('CoC-R50 train', coc, True),
                ('CoC-R50 deploy', coc_deploy, False),
            ]
        )
    cpwc_deploy = copy.deepcopy(cpwc)
    cpwc_unfused = copy.deepcopy(cpwc)
    coc_deploy = copy.deepcopy(coc)
    switch_model_to_deploy(cpwc_deploy)
    switch_model_to_deploy(cpwc_unfused)
    switch_model_to_deploy(coc_deploy)
    rows = [
        ('ResNet-50', plain, True),
        ('CPWC-R50 train', cpwc, True),
        ('CPWC-R50 deploy', cpwc_deploy, False),
        ('CPWC-R50 deploy, PyTorch convs', cpwc_unfused, False),
        ('CoC-R50 train', coc, True),
        ('CoC-R50 deploy', coc_deploy, False),
    ]
    if not cpu_kernels_available():  # the two rows would be the same
        rows.pop(3)
    return rows


def prepare(model, args):
    dtype = torch.bfloat16 if args.dtype == 'bf16' else torch.float32
    model = model.to(args.device, dtype)
    if not args.no_channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.rand(
        args.batch, 3, args.size, args.size, device=args.device, dtype=dtype
    )
    if not args.no_channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return model, x


def time_backbones(args):
    """[(name, forward ms, forward+backward ms or None, saved MiB or
    None)], the times interleaved."""
    entries = [
        (name, *prepare(model, args), trainable)
        for name, model, trainable in build_backbones(args.device)
    ]

    def forward(name, model, x):
        def run():
            with torch.no_grad(), cuda_kernel(name):
                model(x)

        return run

    def forward_backward(name, model, x):
        def run():
            with cuda_kernel(name):
                sum(o.float().mean() for o in model(x)).backward()

        return run

    for _, model, _, _ in entries:
        model.eval()
    if args.device == 'cuda':
        check_triton_route(entries)
    fwd = interleaved_medians(
        [forward(*e[:3]) for e in entries],
        args.iters,
        args.warmup,
        args.device,
    )
    bwd = [None] * len(entries)
    saved = [None] * len(entries)
    if not args.no_backward:
        train = [i for i, e in enumerate(entries) if e[3]]
        for i in train:
            entries[i][1].train()
        times = interleaved_medians(
            [forward_backward(*entries[i][:3]) for i in train],
            max(3, args.iters // 2),
            2,
            args.device,
        )
        for i, t in zip(train, times):
            bwd[i] = t
        for i in train:
            name, model, x, _ = entries[i]
            with cuda_kernel(name):
                saved[i] = saved_for_backward_bytes(lambda: model(x)) / 2**20
    return [(e[0], *rest) for e, *rest in zip(entries, fwd, bwd, saved)]


def check_triton_route(entries):
    """Stop if the Triton row does not reach ``cpwc::context_unit`` (a
    CPWConv2d that does not reach ``ops.context_unit``)."""
    from torch.profiler import profile

    name, model, x, _ = next(
        e for e in entries if KERNEL_ROWS.get(e[0]) == 'triton'
    )
    with torch.no_grad(), cuda_kernel(name), profile() as prof:
        model(x)
    if not any(e.key == 'cpwc::context_unit' for e in prof.key_averages()):
        sys.exit(
            f'{name}: no cpwc::context_unit call in the profile; '
            f'CPWConv2d does not dispatch to the Triton op'
        )


def op_breakdown(args, limit=8, repeats=3):
    """Self time per op and forward of CPWC-R50 (eval) vs ResNet-50,
    averaged over ``repeats`` profiled forwards."""
    from mmdet.registry import MODELS
    from torch.profiler import ProfilerActivity, profile

    lines = []
    for cfg in (
        dict(type='ResNet', depth=50),
        dict(type='CPWCResNet', depth=50),
    ):
        model, x = prepare(MODELS.build(cfg), args)
        model.eval()
        with torch.no_grad():
            model(x)
            activities = [ProfilerActivity.CPU] + (
                [ProfilerActivity.CUDA] if args.device == 'cuda' else []
            )
            with profile(activities=activities) as prof:
                for _ in range(repeats):
                    model(x)
        key = (
            'self_cuda_time_total'
            if args.device == 'cuda'
            else 'self_cpu_time_total'
        )
        events = sorted(
            prof.key_averages(group_by_input_shape=False),
            key=lambda e: getattr(e, key),
            reverse=True,
        )
        total = sum(getattr(e, key) for e in events) / 1e3 / repeats
        lines.append(f'{cfg["type"]}: {total:.1f} ms of op self time')
        for e in events[:limit]:
            lines.append(
                f'    {e.key:<32} '
                f'{getattr(e, key) / 1e3 / repeats:8.2f} ms '
                f'x{e.count // repeats}'
            )
    return lines


def autocast_bf16(module, device):
    """Run ``module`` under bf16 autocast; float32 outputs."""
    from torch.utils._pytree import tree_map

    forward = module.forward

    def wrapped(*inputs, **kwargs):
        with torch.autocast(device, dtype=torch.bfloat16):
            out = forward(*inputs, **kwargs)
        return tree_map(
            lambda t: (
                t.float()
                if torch.is_tensor(t) and t.is_floating_point()
                else t
            ),
            out,
        )

    module.forward = wrapped


def time_detectors(args):
    """One training iteration (forward, backward, SGD step) of the toy
    Faster R-CNN C4, CPWC vs baseline, on a synthetic batch."""
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    results = {}
    for name in ('faster-rcnn_r50_c4_toy', 'faster-rcnn_r50-cpwc_c4_toy'):
        cfg = Config.fromfile(f'configs/toy/{name}.py')
        model = MODELS.build(cfg.model).to(args.device)
        if args.device == 'cuda' and not args.no_channels_last:
            model = model.to(memory_format=torch.channels_last)
        if args.dtype == 'bf16':
            autocast_bf16(model.backbone, args.device)
            autocast_bf16(model.roi_head.shared_head, args.device)
        model.train()
        torch.manual_seed(0)
        packed = demo_mm_inputs(
            4,
            [[3, 160, 160]] * 4,
            num_classes=3,
            num_items=[3] * 4,
            device=args.device,
        )
        data = model.data_preprocessor(packed, True)
        optim = torch.optim.SGD(model.parameters(), lr=1e-4)

        def step():
            losses = model(**data, mode='loss')
            loss = sum(
                v
                for k, v in losses.items()
                if 'loss' in k and isinstance(v, torch.Tensor)
            )
            loss = loss + sum(
                sum(v)
                for k, v in losses.items()
                if 'loss' in k and isinstance(v, list)
            )
            loss.backward()
            optim.step()
            optim.zero_grad()

        results[name] = step
    names = list(results)
    times = interleaved_medians(
        [results[n] for n in names], max(4, args.iters // 2), 2, args.device
    )
    return dict(zip(names, times))


#: (batch, height, width) of --coc-training
COC_TRAINING_SHAPES = ((4, 224, 224), (2, 800, 1216))


def time_coc_training(args, shapes=COC_TRAINING_SHAPES, iters=10):
    """[(shape, ResNet-50 ms, CoC-R50 ms)]: forward+backward (train mode),
    the two models interleaved at each shape."""
    from mmdet.registry import MODELS

    torch.manual_seed(0)
    models = [
        MODELS.build(dict(type=kind, depth=50, norm_eval=False))
        for kind in ('ResNet', 'CoCResNet')
    ]
    out = []
    for batch, height, width in shapes:
        x = torch.rand(batch, 3, height, width, device=args.device)
        if not args.no_channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        steps = []
        for model in models:
            model.to(args.device).train()
            if not args.no_channels_last:
                model.to(memory_format=torch.channels_last)

            def step(model=model):
                model.zero_grad(set_to_none=True)
                sum(o.mean() for o in model(x)).backward()

            steps.append(step)
        plain, coc = interleaved_medians(
            steps, iters, 1, args.device, rounds=iters // 2
        )
        out.append(((batch, height, width), plain, coc))
    return out


def print_coc_training(args):
    rows = time_coc_training(args)
    print(
        '\nCoC-R50 training step (forward+backward, train mode) / '
        'ResNet-50, interleaved:'
    )
    print(
        format_table(
            ['batch', 'ResNet-50 ms', 'CoC-R50 ms', 'ratio'],
            [
                (
                    f'{n} x {h}x{w}',
                    f'{plain:.0f}',
                    f'{coc:.0f}',
                    f'{coc / plain:.3f}',
                )
                for (n, h, w), plain, coc in rows
            ],
        )
    )


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.device == 'cuda'
    device = (
        torch.cuda.get_device_name()
        if args.device == 'cuda'
        else f'CPU, {torch.get_num_threads()} threads'
    )
    print(
        f'device: {device}; batch {args.batch}, {args.size}x{args.size}, '
        f'{args.dtype}, channels_last '
        f'{"off" if args.no_channels_last else "on"}, median of '
        f'{args.iters} (models interleaved) after {args.warmup} warm-up; '
        f'torch {torch.__version__}; THP_MEM_ALLOC_ENABLE='
        f'{os.environ.get("THP_MEM_ALLOC_ENABLE", "unset")}'
    )
    reason = cpu_kernels_reason()
    print(
        'fused CPWC kernel (CPU fp32 channels_last inference): '
        + ('on' if reason is None else f'off: {reason}')
    )
    if args.coc_training:
        print_coc_training(args)
    rows = time_backbones(args)
    if args.device == 'cuda':
        picks = list(
            kernel_choices.tables(torch.device('cuda'))['implementation']
        )
        print(
            f'CPWC_KERNEL=auto: {len(picks)} problems tuned in '
            f'{kernel_choices.choices_path(torch.device("cuda"))}'
            + ('' if picks else ' (none: the rule, Triton everywhere)')
        )
    base_fwd, base_bwd, base_saved = rows[0][1], rows[0][2], rows[0][3]
    print(
        format_table(
            [
                'backbone',
                'forward ms',
                'x ResNet-50',
                'fwd+bwd ms',
                'x ResNet-50',
                'saved for bwd MiB',
                'x ResNet-50',
            ],
            [
                (
                    name,
                    f'{fwd:.1f}',
                    f'{fwd / base_fwd:.2f}',
                    '-' if bwd is None else f'{bwd:.1f}',
                    '-'
                    if bwd is None or base_bwd is None
                    else f'{bwd / base_bwd:.2f}',
                    '-' if saved is None else f'{saved:.0f}',
                    '-'
                    if saved is None or base_saved is None
                    else f'{saved / base_saved:.2f}',
                )
                for name, fwd, bwd, saved in rows
            ],
        )
    )
    print('\nwhere the time goes (per-op self time, one forward):')
    print('\n'.join(op_breakdown(args)))
    if not args.no_detector:
        det = time_detectors(args)
        base, cpwc = (
            det['faster-rcnn_r50_c4_toy'],
            det['faster-rcnn_r50-cpwc_c4_toy'],
        )
        print(
            f'\ntoy Faster R-CNN C4 training iteration (batch 4, 160x160, '
            f'{args.dtype}{" autocast" if args.dtype == "bf16" else ""}): '
            f'baseline {base:.0f} ms, CPWC {cpwc:.0f} ms, '
            f'ratio {cpwc / base:.2f}'
        )
    if args.device == 'cuda':
        _, fwd, bwd, _ = next(r for r in rows if r[0] == 'CPWC-R50, Triton')
        print(
            f'\nCPWC-R50 (Triton) / ResNet-50 ({device}, {args.dtype}): '
            f'inference {fwd / base_fwd:.2f}x, forward+backward '
            + (
                '-'
                if bwd is None or base_bwd is None
                else f'{bwd / base_bwd:.2f}x'
            )
        )
        return 0
    deploy = dict((r[0], r[1]) for r in rows)['CPWC-R50 deploy']
    print(
        f'\nCPWC-R50 deploy-form inference / ResNet-50 ({device}): '
        f'{deploy / base_fwd:.2f}x'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
