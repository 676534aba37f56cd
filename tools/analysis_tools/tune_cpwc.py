"""Tune the CPWC kernels for one GPU type and one model: once, outside
training.

Usage::

    python tools/analysis_tools/tune_cpwc.py CONFIG
        [--sizes 800x1216 608x1024] [--batch 2] [--amp fp16|bf16|none]
        [--out PATH]

Runs the config's backbone (and neck) forward and backward, and forward
alone, on random batches of each size on the current GPU, records every
CPWC call's problem (layer, dtype, layout, gradients, size bucket), times
the Triton op (each launch configuration of each kernel) against PyTorch
convs on each, and merges the choices into the file that ``CPWC_KERNEL=auto``
reads for this GPU model, torch, Triton and kernel version (default
``~/.cache/cpwc_mmdet/kernel-choices_*.json``, written atomically under a
lock, so ranks or two tools may run it at once). Training then looks the
choices up and measures nothing; without the file each call gets the rule
(Triton wherever it applies, default launch configurations).
"""

import os
import sys

import torch

from cpwc_mmdet.cli import ArgumentParser, fail, one_line_errors
from cpwc_mmdet.ops import kernel_choices, kernel_tuning, use_kernel
from cpwc_mmdet.utils.atomic_files import atomic_update_json
from cpwc_mmdet.utils.errors import UserInputError

TOOL = 'tune_cpwc.py'
AMP = dict(fp16=torch.float16, bf16=torch.bfloat16, none=None)


def size(text: str):
    """``HxW`` -> (H, W), both in 32..8192."""
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise ValueError(f'a size is HxW, got {text!r}') from None
    if not (32 <= h <= 8192 and 32 <= w <= 8192):
        raise ValueError(f'sizes must be within 32..8192, got {text!r}')
    return h, w


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--sizes', nargs='+', default=['800x1216'])
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--amp', choices=sorted(AMP), default='fp16')
    parser.add_argument('--out', help='choices file (default: the one read)')
    args = parser.parse_args(argv)
    try:
        args.sizes = [size(s) for s in args.sizes]
    except ValueError as err:
        parser.error(str(err))
    if not 1 <= args.batch <= 64:
        parser.error(f'--batch must be within 1..64, got {args.batch}')
    return args


def record_calls(model, device, sizes, batch, amp):
    """Every CPWC call of the model's features, training and inference."""
    features = getattr(model, 'extract_feat', None) or model.backbone
    with kernel_choices.recording() as calls, use_kernel('auto'):
        for h, w in sizes:
            x = torch.randn(batch, 3, h, w, device=device)
            with torch.autocast(device.type, amp, enabled=amp is not None):
                model.train()
                out = features(x)
                loss = sum(o.float().sum() for o in out)
            loss.backward()
            model.zero_grad(set_to_none=True)
            model.eval()
            with torch.no_grad(), torch.autocast(
                device.type, amp, enabled=amp is not None
            ):
                features(x)
    return list(calls)


def merge(tables, versions):
    """An update for ``atomic_update_json``: the file's tables, when made
    for these versions, with ``tables`` over them."""

    def update(current):
        fresh = dict(format=kernel_choices.FORMAT, **versions)
        if any(current.get(k) != v for k, v in fresh.items()):
            current = {}
        out = dict(fresh, implementation=dict(current.get('implementation')
                                              or {}), launch={})  # fmt: skip
        out['implementation'].update(tables['implementation'])
        for kernel in set(current.get('launch') or {}) | set(tables['launch']):
            out['launch'][kernel] = {
                **(current.get('launch') or {}).get(kernel, {}),
                **tables['launch'].get(kernel, {}),
            }
        return out

    return update


def save(tables, device, out=None) -> str:
    """Merge ``tables`` into the choices file of ``device`` (or ``out``);
    the choices this process reads are reloaded. Returns the path."""
    path = out or kernel_choices.choices_path(device)
    versions = kernel_choices.versions(kernel_choices.gpu_name(device))
    atomic_update_json(path, merge(tables, versions))
    kernel_choices.reset()
    return path


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors(TOOL):
        from mmdet.registry import MODELS
        from mmengine.config import Config
        from mmengine.registry import init_default_scope

        if not torch.cuda.is_available():
            raise UserInputError(
                'no CUDA device is visible: tuning times the GPU kernels '
                '(without a choices file CPWC layers use the rule)'
            )
        device = torch.device('cuda', torch.cuda.current_device())
        if not os.path.isfile(args.config):
            raise UserInputError(f'no such config: {args.config}')
        cfg = Config.fromfile(args.config)
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        model = MODELS.build(cfg.model).to(device)  # random weights suffice
        calls = record_calls(model, device, args.sizes, args.batch,
                             AMP[args.amp])  # fmt: skip
        if not calls:
            fail(TOOL, 'the model has no CPWC layer on a Triton device: '
                 'nothing to tune')  # fmt: skip

        def progress(done, total, key, name):
            print(f'[{done}/{total}] {key}: {name}', flush=True)

        tables = kernel_tuning.tune(calls, progress)
        path = save(tables, device, args.out)
        picks = list(tables['implementation'].values())
        print(
            f'{len(picks)} problems: {picks.count("triton")} Triton, '
            f'{picks.count("torch")} PyTorch; choices in {path}'
        )


if __name__ == '__main__':
    sys.exit(main())
