"""Caffe-style (MSRA, Detectron) plain ResNet checkpoints inflate exactly."""

import copy
import subprocess
import sys

import pytest
import torch
from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS

from cpwc_mmdet.backbones.resnet_key_names import rename_caffe_resnet_keys
from cpwc_mmdet.utils.safe_checkpoint import safe_load
from tests.helpers import ROOT, calibrate_then_randomise_norms, max_output_diff

BRANCH = {'conv1': '2a', 'conv2': '2b', 'conv3': '2c', 'downsample': '1'}
NORM_BRANCH = {'bn1': '2a', 'bn2': '2b', 'bn3': '2c'}


def msra_block(layer, block, depth):
    """Block names of mmdet's ``layer{layer}.{block}`` as the MSRA release
    wrote them: res2a, res2b, ...; ResNet-101's res4 and ResNet-152's res3
    and res4 count a, b1, b2, ..."""
    numbered = {101: (3,), 152: (2, 3)}.get(depth, ())
    if layer in numbered and block > 0:
        return f'{layer + 1}b{block}'
    return f'{layer + 1}{"abcdefghijklmnopqrstuvwxyz"[block]}'


def to_msra(state, depth):
    """mmdet ResNet keys -> MSRA Caffe keys, written out from the naming
    convention (independently of the code under test)."""
    out = {}
    for key, value in state.items():
        parts = key.split('.')
        if parts[0] == 'conv1':
            out[key] = value
        elif parts[0] == 'bn1':
            kind = (
                'scale_conv1' if parts[1] in ('weight', 'bias') else 'bn_conv1'
            )
            out[f'{kind}.{parts[1]}'] = value
        else:
            name = msra_block(int(parts[0][5:]), int(parts[1]), depth)
            if parts[2] == 'downsample':
                branch, is_norm = '1', parts[3] == '1'
            elif parts[2] in BRANCH:
                branch, is_norm = BRANCH[parts[2]], False
            else:
                branch, is_norm = NORM_BRANCH[parts[2]], True
            param = parts[-1]
            if not is_norm:
                out[f'res{name}_branch{branch}.{param}'] = value
            else:
                kind = 'scale' if param in ('weight', 'bias') else 'bn'
                out[f'{kind}{name}_branch{branch}.{param}'] = value
    out['fc1000.weight'] = torch.zeros(1000, 2048)
    out['fc1000.bias'] = torch.zeros(1000)
    return out


def to_detectron(state):
    """mmdet keys -> Detectron (Caffe2) keys; its BN is a frozen affine, so
    running statistics are not stored."""
    out = {}
    for key, value in state.items():
        parts = key.split('.')
        if key.endswith(
            ('running_mean', 'running_var', 'num_batches_tracked')
        ):
            continue
        if parts[0] == 'conv1':
            out['conv1_w'] = value
        elif parts[0] == 'bn1':
            continue  # below
        else:
            stage, block = int(parts[0][5:]) + 1, int(parts[1])
            base = f'res{stage}_{block}_branch'
            if parts[2] == 'downsample':
                is_norm = parts[3] == '1'
                branch = '1'
            else:
                is_norm = parts[2].startswith('bn')
                branch = (NORM_BRANCH if is_norm else BRANCH)[parts[2]]
            if is_norm:
                out[
                    f'{base}{branch}_bn_'
                    + {'weight': 's', 'bias': 'b'}[parts[-1]]
                ] = value
            else:
                out[f'{base}{branch}_w'] = value
    out['res_conv1_bn_s'] = state['bn1.weight']
    out['res_conv1_bn_b'] = state['bn1.bias']
    out['pred_w'] = torch.zeros(1000, 2048)
    out['pred_b'] = torch.zeros(1000)
    return out


@pytest.mark.parametrize('depth', [50, 101, 152])
def test_msra_names_map_onto_every_mmdet_key(depth):
    state = ResNet(depth=depth, style='caffe').state_dict()
    renamed = to_msra(state, depth)
    count = rename_caffe_resnet_keys(renamed)
    assert count == sum(not k.startswith('conv1.') for k in state)
    assert renamed.keys() == state.keys()
    assert all(renamed[k] is state[k] for k in state)


@pytest.fixture(scope='module')
def plain_caffe_resnet():
    torch.manual_seed(2)
    plain = ResNet(depth=50, style='caffe', norm_eval=False)
    calibrate_then_randomise_norms(plain, torch.rand(2, 3, 64, 64))
    return plain


@pytest.mark.parametrize(
    'cfg',
    [
        dict(type='CPWCResNet', depth=50, style='caffe'),
        dict(
            type='CoCResNet',
            depth=50,
            style='caffe',
            conversion=dict(type='CoC', orth=False),
        ),
    ],
)
def test_msra_checkpoint_inflates_exactly(plain_caffe_resnet, cfg, tmp_path):
    path = tmp_path / 'msra_r50.pth'
    torch.save(to_msra(plain_caffe_resnet.state_dict(), 50), path)
    model = MODELS.build(
        dict(cfg, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    )
    model.init_weights()
    assert (
        max_output_diff(plain_caffe_resnet, model, torch.rand(2, 3, 64, 64))
        <= 1e-5
    )


def test_detectron_checkpoint_inflates_exactly(plain_caffe_resnet, tmp_path):
    plain = copy.deepcopy(plain_caffe_resnet)
    with torch.no_grad():  # Detectron's AffineChannel: BN with mean 0, var 1
        for m in plain.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
    path = tmp_path / 'detectron_r50.pth'
    torch.save(to_detectron(plain.state_dict()), path)
    model = MODELS.build(
        dict(
            type='CPWCResNet',
            depth=50,
            style='caffe',
            init_cfg=dict(type='Pretrained', checkpoint=str(path)),
        )
    )
    model.init_weights()
    assert max_output_diff(plain, model, torch.rand(2, 3, 64, 64)) <= 1e-5


def test_mixed_key_names_are_refused():
    state = {
        'res2a_branch2a.weight': torch.zeros(1),
        'layer1.0.conv1.weight': torch.zeros(1),
    }
    with pytest.raises(KeyError, match='mixes caffe and mmdet'):
        rename_caffe_resnet_keys(state)


def test_inflate_tool_takes_msra_checkpoints(plain_caffe_resnet, tmp_path):
    src, dst = tmp_path / 'msra_r50.pth', tmp_path / 'cpwc.pth'
    torch.save(to_msra(plain_caffe_resnet.state_dict(), 50), src)
    subprocess.run(
        [
            sys.executable,
            'tools/model_converters/inflate_checkpoint.py',
            str(src),
            str(dst),
            '--to',
            'cpwc',
            '--style',
            'caffe',
            '--prefix',
            '',
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    model = MODELS.build(dict(type='CPWCResNet', depth=50, style='caffe'))
    model.load_state_dict(safe_load(str(dst))['state_dict'], strict=True)
    assert (
        max_output_diff(plain_caffe_resnet, model, torch.rand(2, 3, 64, 64))
        <= 1e-5
    )
