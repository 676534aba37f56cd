"""CoC with orth=True inflated from plain checkpoints: what is exact, what is
not, and the BN recalibration that keeps activations where the plain
network's are."""

from types import SimpleNamespace

import pytest
import torch
from mmdet.models.backbones import HRNet, ResNet
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch.nn.modules.batchnorm import _BatchNorm

from cpwc_mmdet.backbones import CoCHRNet, CoCResNet
from cpwc_mmdet.engine import NormRecalibrationHook
from cpwc_mmdet.engine.norm_recalibration_hook import recalibrate_norms
from cpwc_mmdet.layers import CoCConv2d
from tests.helpers import HRNET_W18, ROOT, toy_overrides

BACKBONES = {
    'ResNet-50': (
        lambda: ResNet(depth=50, norm_eval=False),
        lambda: CoCResNet(depth=50, norm_eval=False),
    ),
    'HRNet-W18': (
        lambda: HRNet(extra=HRNET_W18, norm_eval=False),
        lambda: CoCHRNet(extra=HRNET_W18, norm_eval=False),
    ),
}


def calibrate(model, x):
    """BN statistics of ``model`` measured on ``x`` (as training leaves
    them: consistent with every affine)."""
    recalibrate_norms(model, model, [x])
    model.eval()
    return model


def trained_like(plain, x):
    """Random weights with what training leaves behind: each conv filter
    its own scale (e^U(-1, 1)), random BN affines, BN statistics that fit."""
    with torch.no_grad():
        for m in plain.modules():
            if isinstance(m, torch.nn.Conv2d):
                scale = torch.empty(m.out_channels).uniform_(-1, 1).exp()
                m.weight.mul_(scale.view(-1, 1, 1, 1))
            if isinstance(m, _BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return calibrate(plain, x)


@torch.no_grad()
def largest_activation(model, x):
    """max |output| over every leaf module of ``model`` on ``x``."""
    peak = []

    def record(module, inputs, output):
        outputs = output if isinstance(output, (list, tuple)) else [output]
        peak.extend(o.abs().max().item() for o in outputs)

    handles = [
        m.register_forward_hook(record)
        for m in model.modules()
        if not list(m.children())
    ]
    model.eval()
    model(x)
    for handle in handles:
        handle.remove()
    return max(peak)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_inflated_orth_coc_stays_within_10x_after_recalibration(name):
    make_plain, make_coc = BACKBONES[name]
    torch.manual_seed(1)
    seen, unseen = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    plain = trained_like(make_plain(), seen)
    coc = make_coc()  # the default: orth=True
    with pytest.warns(UserWarning, match='NormRecalibrationHook'):
        coc.load_state_dict(plain.state_dict())
    # the same function with plain convs (each conv's output is a leaf
    # module's, as in the plain network; and it is faster)
    coc.switch_to_deploy()
    reference = largest_activation(plain, unseen)
    # the BN statistics of the plain network do not fit: it explodes
    assert not largest_activation(coc, unseen) < 10 * reference
    calibrate(coc, seen)
    assert 0.1 * reference < largest_activation(coc, unseen) < 10 * reference


def test_orth_inflation_is_exact_when_filters_share_scale_and_mean():
    torch.manual_seed(0)
    z = torch.nn.functional.layer_norm(torch.randn(20, 8, 3, 3), (8, 3, 3))
    weight = 0.05 * z + 0.01  # every filter: scale 0.05, mean 0.01
    coc = CoCConv2d(8, 20, 3, padding=1)
    with pytest.warns(UserWarning):
        coc.load_state_dict({'weight': weight, 'bias': torch.zeros(20)})
    assert coc.inflated_from_plain
    torch.testing.assert_close(
        coc.deploy_weight(), weight, atol=1e-6, rtol=1e-4
    )
    # a CoC checkpoint is no inflation
    coc.load_state_dict(coc.state_dict())
    assert not coc.inflated_from_plain


@pytest.fixture(scope='module')
def toy_cfg(toy_root, tmp_path_factory):
    cfg = Config.fromfile(f'{ROOT}/configs/toy/retinanet_r50-coc_fpn_toy.py')
    cfg.merge_from_dict(
        toy_overrides(toy_root, tmp_path_factory.mktemp('recalibration'))
    )
    return cfg


def fake_runner(model, cfg):
    init_default_scope('mmdet')
    messages = []
    return SimpleNamespace(
        model=model,
        train_dataloader=Runner.build_dataloader(cfg.train_dataloader),
        logger=SimpleNamespace(info=messages.append),
        messages=messages,
    )


def backbone_stats(model):
    return [
        m.running_var.clone()
        for m in model.backbone.modules()
        if isinstance(m, _BatchNorm)
    ]


def plain_twin(cfg):
    """The toy detector with a plain ResNet-50 backbone, random weights."""
    plain = cfg.model.copy()
    plain.backbone = dict(plain.backbone, type='ResNet')
    plain.backbone.pop('conversion')
    torch.manual_seed(0)
    return MODELS.build(plain)


def test_hook_recalibrates_a_detector_inflated_from_plain(toy_cfg):
    plain = plain_twin(toy_cfg)
    detector = MODELS.build(toy_cfg.model)
    with pytest.warns(UserWarning):
        detector.backbone.load_state_dict(plain.backbone.state_dict())
    runner = fake_runner(detector, toy_cfg)
    before = backbone_stats(detector)
    NormRecalibrationHook(num_batches=2).before_train(runner)
    after = backbone_stats(detector)
    assert all(not torch.equal(a, b) for a, b in zip(after, before))
    assert len(runner.messages) == 1
    assert 'NormRecalibrationHook: 17 convs' in runner.messages[0]
    assert (
        f'recalibrated the running statistics of {len(before)} BN '
        'layers on 4 training images per rank' in runner.messages[0]
    )
    assert all(m.training for m in detector.modules())  # modes restored
    # done once: the flags are cleared, a second call changes nothing
    NormRecalibrationHook(num_batches=2).before_train(runner)
    assert all(
        torch.equal(a, b) for a, b in zip(backbone_stats(detector), after)
    )
    assert len(runner.messages) == 1


def test_hook_leaves_exact_inflation_alone(toy_cfg):
    cfg = toy_cfg.model.copy()
    cfg.backbone = dict(cfg.backbone, conversion=dict(type='CoC', orth=False))
    detector = MODELS.build(cfg)
    detector.backbone.load_state_dict(
        plain_twin(toy_cfg).backbone.state_dict()
    )
    runner = fake_runner(detector, toy_cfg)
    before = backbone_stats(detector)
    NormRecalibrationHook(num_batches=2).before_train(runner)
    assert runner.messages == []
    assert all(
        torch.equal(a, b) for a, b in zip(backbone_stats(detector), before)
    )
