"""The layer and kernel code on the oldest supported torch (2.1), where the
Triton op cannot exist (no ``torch.library.custom_op``).

Run by ``tests/test_min_torch.py`` with the interpreter of
``.venv-min-torch`` (torch 2.1.2 and numpy alone: no OpenMMLab package), so
the package's parents are stood in for: ``cpwc_mmdet`` and
``cpwc_mmdet.layers`` (whose ``__init__`` files register into mmdet), and
the registry module (mmdet's ``MODELS``). Everything else is the project's
own code. Prints ``OK <check>`` per check; any failure is a traceback and a
non-zero exit.
"""

import contextlib
import io
import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stand_in(name, path=None):
    module = types.ModuleType(name)
    if path is not None:
        module.__path__ = [os.path.join(ROOT, *path)]
    sys.modules[name] = module
    return module


stand_in('cpwc_mmdet', ['cpwc_mmdet'])
stand_in('cpwc_mmdet.layers', ['cpwc_mmdet', 'layers'])
stand_in('cpwc_mmdet.layers.registry').register_conv_layer = lambda cls: cls

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cpwc_mmdet.layers.coc_conv import CoCConv2d  # noqa: E402
from cpwc_mmdet.layers.cpwc_conv import CPWConv2d  # noqa: E402
from cpwc_mmdet.ops import (  # noqa: E402  # noqa: E402
    compat,
    dispatch,
    group_members,
    use_kernel,
)

CASES = [(4, 4), (7, 3), (3, 7), (10, 4), (4, 10), (16, 16), (1, 3)]


def reference(layer, x):
    """``pwc(x) + s1(x) + s2(s1(x))``, stage 1 one filter per output
    channel over G(z), as the spec states it."""
    weights = []
    for seg, conv in zip(layer.segments, layer.stage1):
        weights.extend(conv.weight[i] for i in range(seg.out_channels))
    s1 = torch.cat(
        [
            F.conv2d(
                x[:, members],
                weights[z].unsqueeze(0),
                stride=layer.stride,
                padding=1,
            )
            for z, members in enumerate(
                group_members(layer.in_channels, layer.out_channels)
            )
        ],
        dim=1,
    )
    out = s1.clone()
    if layer.pwc is not None:
        out = out + F.conv2d(x, layer.pwc.weight, layer.pwc.bias, layer.stride)
    if layer.stage2 is not None:
        out = out + F.conv2d(
            s1, layer.stage2.weight, padding=1, groups=layer.out_channels
        )
    return out


def check_torch_is_old():
    assert torch.__version__.startswith('2.1.'), torch.__version__
    assert not hasattr(torch.library, 'custom_op')
    assert compat.custom_op_missing().startswith(f'torch {torch.__version__}')


def check_layer_matches_the_spec():
    for c, z in CASES:
        for stride, stage2, pwc in ((1, True, True), (2, False, True),
                                    (2, True, False)):  # fmt: skip
            layer = CPWConv2d(c, z, stride=stride, stage2=stage2, pwc=pwc)
            x = torch.randn(2, c, 9, 10, requires_grad=True)
            out = layer(x)
            expected = reference(layer, x)
            torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
            grads = torch.autograd.grad(out.sum(), [x, *layer.parameters()])
            wanted = torch.autograd.grad(
                expected.sum(), [x, *layer.parameters()]
            )
            for got, want in zip(grads, wanted):
                torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def check_cuda_path_falls_back_with_one_line():
    """The CUDA path, with CPU admitted as its device: Triton asked for,
    auto, under autocast and with gradients; PyTorch computes it all, and
    one line says why, once."""
    dispatch.TRITON_DEVICE_TYPES = ('cuda', 'cpu')
    layer = CPWConv2d(8, 4, stride=2)
    x = torch.randn(2, 8, 6, 7)
    with use_kernel('torch'):
        expected = layer(x)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        for mode in ('triton', 'auto', 'triton'):
            with use_kernel(mode):
                torch.testing.assert_close(layer(x), expected)
                layer(x.requires_grad_()).sum().backward()
                with torch.autocast('cpu', dtype=torch.bfloat16):
                    layer(x)
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert 'has no torch.library.custom_op' in lines[0], lines
    assert 'CPWC layers run on PyTorch convs' in lines[0], lines
    assert dispatch.calls['triton'] == 0
    dispatch.TRITON_DEVICE_TYPES = ('cuda',)


def check_compat():
    assert compat.is_compiling() is False
    assert compat.autocast_dtype('cpu') is None
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert compat.autocast_dtype('cpu') == torch.bfloat16


def check_coc_deploys_to_a_plain_conv():
    conv = CoCConv2d(8, 18, 3, padding=1)
    x = torch.randn(2, 8, 9, 9, requires_grad=True)
    out = conv(x)
    plain = conv.to_plain_conv()
    torch.testing.assert_close(plain(x), out, atol=1e-5, rtol=1e-4)
    out.sum().backward()
    assert all(p.grad is not None for p in conv.parameters())


def main():
    torch.manual_seed(0)
    for name, check in list(globals().items()):
        if name.startswith('check_'):
            check()
            print('OK', name[len('check_') :], flush=True)


if __name__ == '__main__':
    main()
