"""The PyTorch path's training form that keeps only ``x`` for backward
(``torch_context._ContextSavingInput``, used on CUDA): its output and every
gradient equal autograd's through the plain convs (float64, every segment
form, stride, optional branch and layout; bf16 autocast), and it saves
less. Run on the CPU by admitting 'cpu' to ``SAVE_INPUT_ONLY_ON``."""

import pytest
import torch
import torch.nn.functional as F

from cpwc_mmdet.ops import segment_rows
from cpwc_mmdet.ops import torch_context as tc
from cpwc_mmdet.utils.saved_memory import saved_for_backward_bytes

#: (C, Z, stride): Z == C, Z < C even and uneven (two segments), Z > C
#: even and uneven
SHAPES = [(4, 4, 1), (7, 3, 1), (8, 4, 2), (4, 8, 1), (5, 9, 2), (3, 7, 2)]


@pytest.fixture
def saving_input_on_cpu(monkeypatch):
    monkeypatch.setattr(tc, 'SAVE_INPUT_ONLY_ON', ('cpu',))


def reference(x, base, w1, w2, segments, stride):
    """Autograd through stage 1 and a depthwise stage 2."""
    s1 = tc.stage1(x, w1, segments, stride)
    out = s1
    if w2 is not None:
        z = w2.shape[0]
        out = s1 + F.conv2d(s1, w2.view(z, 1, 3, 3), None, 1, 1, 1, z)
    return out if base is None else base + out


def _inputs(c, z, stride, stage2, pwc, channels_last, dtype=torch.float64):
    x = torch.randn(2, c, 9, 7, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    size = ((9 - 1) // stride + 1, (7 - 1) // stride + 1)
    w1 = torch.randn(max(c, z), 9, dtype=dtype)
    w2 = torch.randn(z, 9, dtype=dtype) if stage2 else None
    base = torch.randn(2, z, *size, dtype=dtype) if pwc else None
    return x, base, w1, w2


@pytest.mark.parametrize('c,z,stride', SHAPES)
@pytest.mark.parametrize('stage2', [True, False])
@pytest.mark.parametrize('channels_last', [False, True])
def test_gradients_equal_autograds(
    saving_input_on_cpu, c, z, stride, stage2, channels_last
):
    x, base, w1, w2 = _inputs(c, z, stride, stage2, True, channels_last)
    segments = segment_rows(c, z)
    grad = torch.randn_like(base)
    # every subset of gradients the layers ask for: x only (frozen), the
    # weights only (the first stage's input), both
    for needs in ('x', 'w', 'xw'):
        leaves = [t.detach().requires_grad_(k in needs) for t, k in
                  ((x, 'x'), (w1, 'w'), (w2, 'w'), (base, 'w'))
                  if t is not None]  # fmt: skip
        xs, w1s = leaves[:2]
        w2s = leaves[2] if stage2 else None
        wanted = [t for t in leaves if t.requires_grad]
        out = tc.context_unit_torch(
            xs, leaves[-1] * 1, w1s, w2s, segments, stride
        )
        assert out.grad_fn is not None
        got = torch.autograd.grad(out, wanted, grad)
        expected_out = reference(xs, leaves[-1], w1s, w2s, segments, stride)
        expected = torch.autograd.grad(expected_out, wanted, grad)
        torch.testing.assert_close(out, expected_out)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b)


def test_bf16_autocast_casts_the_recompute_as_the_forward(saving_input_on_cpu):
    x, _, w1, w2 = _inputs(16, 32, 1, True, False, False, torch.float32)
    segments = segment_rows(16, 32)
    grads = []
    for fn in (tc.context_unit_torch, reference):
        leaves = [t.detach().requires_grad_() for t in (x, w1, w2)]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = fn(*leaves[:1], None, *leaves[1:], segments, 1)
        assert out.dtype == torch.bfloat16
        grads.append(torch.autograd.grad(out.float().sum(), leaves))
    for a, b in zip(*grads):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-2 * b.abs().max())


def test_saves_only_the_input(monkeypatch):
    x, base, w1, w2 = _inputs(64, 256, 1, True, True, False, torch.float32)
    segments = segment_rows(64, 256)
    leaves = [t.requires_grad_() for t in (x, w1, w2)]

    def run():
        tc.context_unit_torch(
            leaves[0], base.clone(), *leaves[1:], segments, 1
        )

    keeping = saved_for_backward_bytes(run)
    monkeypatch.setattr(tc, 'SAVE_INPUT_ONLY_ON', ('cpu',))
    saving = saved_for_backward_bytes(run)
    inputs = sum(t.numel() * 4 for t in leaves)
    assert saving == inputs, (saving, inputs)
    # autograd also kept stage 1's output, (2, 256, 9, 7) float32
    assert keeping - saving == 2 * 256 * 9 * 7 * 4, (keeping, saving)
