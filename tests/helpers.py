"""What the tests share: running the tools, the one-line-error assertion,
toy data and overrides, BN randomisers, the CPWC reference loop, and a
counter of fused-kernel calls."""

import importlib.util
import os
import socket
import subprocess
import sys
from typing import Dict, List

import torch
import torch.nn.functional as F

from cpwc_mmdet.datasets import make_toy_cls, make_toy_coco
from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.ops import fused_context, group_members, use_kernel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the CoC poster's row names -> conversion types
CONVERSION_TYPES = {'coc': 'CoC', 'stnd': 'stnd', 'orth': 'orth'}


def spec(kind: str, **layer_args) -> dict:
    """The conversion spec of a row name (``'coc'``, ``'stnd'``,
    ``'orth'``, ``'cpwc'``)."""
    return dict(type=CONVERSION_TYPES.get(kind, kind.upper()), **layer_args)


#: CPWConv2d (C, Z) cases covering Z == C, Z < C and Z > C, even and uneven
CPWC_CASES = [
    (4, 4),
    (7, 3),
    (3, 7),
    (10, 4),
    (4, 10),
    (16, 16),
    (32, 8),
    (8, 32),
    (1, 3),
    (3, 1),
]

#: mmdet's HRNetV2-W18 stage description (``extra``)
HRNET_W18 = dict(
    stage1=dict(
        num_modules=1,
        num_branches=1,
        block='BOTTLENECK',
        num_blocks=(4,),
        num_channels=(64,),
    ),
    stage2=dict(
        num_modules=1,
        num_branches=2,
        block='BASIC',
        num_blocks=(4, 4),
        num_channels=(18, 36),
    ),
    stage3=dict(
        num_modules=4,
        num_branches=3,
        block='BASIC',
        num_blocks=(4, 4, 4),
        num_channels=(18, 36, 72),
    ),
    stage4=dict(
        num_modules=3,
        num_branches=4,
        block='BASIC',
        num_blocks=(4, 4, 4, 4),
        num_channels=(18, 36, 72, 144),
    ),
)

#: HRNet-W18's topology at its smallest: one block per branch, 8/16/32/64
#: channels (mmdet's and mmpretrain's HRNet ``extra``)
HRNET_TINY = dict(
    stage1=dict(
        num_modules=1,
        num_branches=1,
        block='BOTTLENECK',
        num_blocks=(1,),
        num_channels=(16,),
    ),
    stage2=dict(
        num_modules=1,
        num_branches=2,
        block='BASIC',
        num_blocks=(1, 1),
        num_channels=(8, 16),
    ),
    stage3=dict(
        num_modules=1,
        num_branches=3,
        block='BASIC',
        num_blocks=(1, 1, 1),
        num_channels=(8, 16, 32),
    ),
    stage4=dict(
        num_modules=1,
        num_branches=4,
        block='BASIC',
        num_blocks=(1, 1, 1, 1),
        num_channels=(8, 16, 32, 64),
    ),
)

# ---------------------------------------------------------------- tools


def run_tool(*args, env=None, check=False, timeout=600):
    """Run ``python ARGS`` from the repository root, as a user would.

    Args:
        check (bool): raise with the output's tail if the exit code is not 0.
    """
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        env=env,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stdout[-3000:] + result.stderr[-3000:])
    return result


def cfg_options(overrides: Dict[str, object]) -> List[str]:
    """``--cfg-options k=v ...`` for a command line."""
    return ['--cfg-options', *[f'{k}={v}' for k, v in overrides.items()]]


def assert_one_line_error(result, *fragments):
    """The tool failed as users are promised: exit code 2, one non-empty
    line on stderr, no traceback, containing every fragment."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ---------------------------------------------------------------- toy data


def tiny_toy_set(directory, num_train=8, num_val=4):
    """Make (once) a tiny toy COCO set under ``directory``; return its root
    with a trailing slash."""
    root = os.path.join(str(directory), 'toy_coco')
    if not os.path.isfile(
        os.path.join(root, 'annotations', 'instances_val.json')
    ):
        make_toy_coco(root, num_train=num_train, num_val=num_val, seed=1)
    return root + '/'


def toy_overrides(data_root, work_dir, max_iters=2):
    """cfg overrides that point a toy config at ``data_root`` and shorten it."""
    return {
        'work_dir': str(work_dir),
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.dataset.data_root': data_root,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.dataset.data_root': data_root,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'val_evaluator.ann_file': data_root + 'annotations/instances_val.json',
        'test_evaluator.ann_file': data_root
        + 'annotations/instances_val.json',
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': max_iters,
        'default_hooks.checkpoint.interval': max_iters,
        'default_hooks.logger.interval': 1,
    }


# ---------------------------------------------------------------- norms


@torch.no_grad()
def calibrate_then_randomise_norms(model, x):
    """Random LayerNorm affines, then BN running statistics measured on
    ``x`` (so an untrained deep network stays finite in eval mode), then
    perturbed, with random affines.

    The model must be built with ``norm_eval=False`` so BN updates here."""
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm) and m.weight is not None:
            m.weight.uniform_(0.5, 1.5)  # before the BN statistics: CoC's
            m.bias.uniform_(-0.5, 0.5)  # scale the activations the BN sees
    norms = [
        m
        for m in model.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    model.train()
    model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
        m.running_mean.add_(
            0.1 * torch.randn_like(m.running_mean) * m.running_var.sqrt()
        )
        m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.5, 2))
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.5, 0.5)
    model.eval()
    return model


def randomise_norms(model):
    """Give every BN / LayerNorm random statistics and affines, so that a
    wrong fusion cannot hide behind mean 0 / var 1 / gamma 1 / beta 0."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
            if (
                isinstance(
                    m,
                    (
                        torch.nn.modules.batchnorm._BatchNorm,
                        torch.nn.LayerNorm,
                    ),
                )
                and m.weight is not None
            ):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model


def max_output_diff(a_model, b_model, x):
    """Max abs difference of two backbones' outputs, both in x's memory
    layout (PyTorch convs, so CPWC backbones keep NCHW: oneDNN rounds NCHW
    and channels_last convs differently, ~1e-3 after 50 layers)."""
    a_model.eval()
    b_model.eval()
    with torch.no_grad(), use_kernel('torch'):
        return max(
            (a - b).abs().max().item() for a, b in zip(a_model(x), b_model(x))
        )


# ---------------------------------------------------------------- CPWC


def cpwc_reference_stage1(layer, x):
    """CPWC stage 1 written out one output channel at a time from G(z), as
    the spec states it."""
    weights = []  # (Z, r_z, 3, 3) as a list, one entry per z
    for seg, conv in zip(layer.segments, layer.stage1):
        weights.extend(conv.weight[i] for i in range(seg.out_channels))
    outs = []
    for z, members in enumerate(
        group_members(layer.in_channels, layer.out_channels)
    ):
        kernel = weights[z].unsqueeze(0)  # (1, r_z, 3, 3)
        outs.append(
            F.conv2d(x[:, members], kernel, stride=layer.stride, padding=1)
        )
    return torch.cat(outs, dim=1)


def cpwc_reference_forward(layer, x):
    """``pwc(x) + s1(x) + s2(s1(x))`` from the spec's loop."""
    s1 = cpwc_reference_stage1(layer, x)
    out = s1.clone()
    if layer.pwc is not None:
        out += F.conv2d(x, layer.pwc.weight, layer.pwc.bias, layer.stride)
    if layer.stage2 is not None:
        out += F.conv2d(
            s1, layer.stage2.weight, padding=1, groups=layer.out_channels
        )
    return out


def cpwc_names(model):
    """Sorted names of the CPWConv2d layers of ``model``."""
    return sorted(
        n for n, m in model.named_modules() if isinstance(m, CPWConv2d)
    )


def pointwise_names(model):
    """Sorted names of the dense 1x1 convs, not counting the 1x1 path inside
    a CPWConv2d."""
    inside = tuple(n + '.' for n in cpwc_names(model))
    return sorted(
        n
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d)
        and m.kernel_size == (1, 1)
        and not n.startswith(inside)
    )


def run_counting_kernel_calls(model, *args):
    """``(model(*args), number of fused CPU-kernel calls it made)``."""
    calls = []
    original = fused_context.fused_context_unit_

    def counting(*kernel_args):
        calls.append(1)
        return original(*kernel_args)

    fused_context.fused_context_unit_ = counting
    try:
        return model(*args), len(calls)
    finally:
        fused_context.fused_context_unit_ = original


# ---------------------------------------------------------------- launchers


def free_port():
    """A TCP port nobody listens on now (for torchrun's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def dist_env(**extra):
    """The environment of a 2-rank CPU run of tools/dist_*.sh: this
    interpreter, a free port, one thread per rank (2 cores)."""
    return dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        OMP_NUM_THREADS='1',
        **extra,
    )


def run_dist_tool(script, *args, cwd=ROOT, timeout=600):
    """Run ``bash tools/dist_{train,test}.sh ARGS`` (2 gloo ranks on CPU)."""
    return subprocess.run(
        ['bash', os.path.join(ROOT, script), *args],
        cwd=cwd,
        env=dist_env(),
        text=True,
        capture_output=True,
        timeout=timeout,
    )


# ---------------------------------------------------------------- pretraining


def load_tool(path):
    """``tools/PATH.py`` (e.g. ``'model_converters/pretrain_to_detector'``)
    as a module: tools/ is not a package."""
    name = 'tool_' + path.replace('/', '_')
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(ROOT, 'tools', f'{path}.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_toy_cls_set(directory, num_train=12, num_val=6):
    """Make (once) a tiny toy classification set under ``directory``;
    return its root with a trailing slash."""
    root = os.path.join(str(directory), 'toy_cls')
    if not os.path.isfile(os.path.join(root, 'meta', 'val.txt')):
        make_toy_cls(root, num_train=num_train, num_val=num_val, seed=1)
    return root + '/'


def toy_cls_overrides(data_root, work_dir, max_iters=2):
    """cfg overrides that point a toy pretraining config (configs/toy/
    *_toy-cls.py) at ``data_root`` and shorten it."""
    return {
        'work_dir': str(work_dir),
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.dataset.data_root': data_root,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.dataset.data_root': data_root,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': max_iters,
        'default_hooks.checkpoint.interval': max_iters,
        'default_hooks.logger.interval': 1,
    }
