"""Plain ResNet checkpoints inflate into CPWC / CoC ResNets (zero-init)."""

import subprocess
import sys

import pytest
import torch
from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS

from cpwc_mmdet.utils.safe_checkpoint import safe_load
from tests.helpers import ROOT, calibrate_then_randomise_norms, max_output_diff


@pytest.fixture(scope='module')
def plain_checkpoint(tmp_path_factory):
    """A 'trained' plain ResNet-50: random weights, random BN statistics,
    saved as a torchvision-style bare state dict."""
    torch.manual_seed(1)
    plain = ResNet(depth=50, norm_eval=False)
    calibrate_then_randomise_norms(plain, torch.rand(2, 3, 64, 64))
    path = tmp_path_factory.mktemp('plain') / 'resnet50.pth'
    state = dict(plain.state_dict())
    state['fc.weight'] = torch.zeros(1000, 2048)  # as torchvision has
    state['fc.bias'] = torch.zeros(1000)
    torch.save(state, path)
    return plain, path


@pytest.mark.parametrize(
    'cfg',
    [
        dict(type='CPWCResNet', depth=50),
        dict(
            type='CPWCResNet',
            depth=50,
            conversion=dict(type='CPWC', stage2=False),
        ),
        dict(
            type='CoCResNet',
            depth=50,
            conversion=dict(type='CoC', orth=False),
        ),
    ],
)
def test_pretrained_init_cfg_inflates_exactly(plain_checkpoint, cfg):
    plain, path = plain_checkpoint
    model = MODELS.build(
        dict(cfg, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    )
    model.init_weights()
    x = torch.rand(2, 3, 64, 64)
    assert max_output_diff(plain, model, x) <= 1e-5
    # channels_last: CPWC's context runs in the fused kernel (zero weights)
    assert (
        max_output_diff(
            plain, model, x.contiguous(memory_format=torch.channels_last)
        )
        <= 1e-5
    )


def test_inflated_cpwc_still_learns_context(plain_checkpoint):
    _, path = plain_checkpoint
    model = MODELS.build(dict(type='CPWCResNet', depth=50, norm_eval=False))
    model.load_state_dict(
        {k: v for k, v in torch.load(path).items() if not k.startswith('fc.')}
    )
    layer = model.layer1[0].conv1
    assert torch.all(layer.stage1[0].weight == 0)
    model.train()
    sum(o.mean() for o in model(torch.rand(2, 3, 32, 32))).backward()
    assert layer.stage1[0].weight.grad.abs().sum() > 0


def test_coc_with_orth_is_documented_as_not_exact(plain_checkpoint):
    plain, path = plain_checkpoint
    model = MODELS.build(
        dict(
            type='CoCResNet',
            depth=50,
            init_cfg=dict(type='Pretrained', checkpoint=str(path)),
        )
    )
    model.init_weights()
    assert max_output_diff(plain, model, torch.rand(2, 3, 64, 64)) > 1e-3


def test_inflate_checkpoint_tool(plain_checkpoint, tmp_path):
    plain, path = plain_checkpoint
    dst = tmp_path / 'cpwc.pth'
    subprocess.run(
        [
            sys.executable,
            'tools/model_converters/inflate_checkpoint.py',
            str(path),
            str(dst),
            '--to',
            'cpwc',
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    state = safe_load(str(dst))['state_dict']
    assert all(k.startswith('backbone.') for k in state)
    model = MODELS.build(dict(type='CPWCResNet', depth=50))
    model.load_state_dict(
        {k[len('backbone.') :]: v for k, v in state.items()}, strict=True
    )
    assert max_output_diff(plain, model, torch.rand(2, 3, 64, 64)) <= 1e-5
