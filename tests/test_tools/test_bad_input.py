"""Every bad input we know of, with the one-line message it must give.

API: a ValueError / TypeError whose message starts with the argument's name.
CLI: one ``tool: error: ...`` line on stderr, no traceback, exit code 2.
"""

import json

import pytest
import torch

import cpwc_mmdet  # noqa: F401
from cpwc_mmdet.backbones import CoCHRNet, CoCResNet, CPWCBackbone, CPWCResNet
from cpwc_mmdet.layers import CoCConv2d, CPWConv2d
from cpwc_mmdet.roi_heads import CPWCResLayer
from tests.helpers import (
    assert_one_line_error,
    cfg_options,
    run_tool,
    toy_overrides,
)

TOY = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'
CPWC_ARGS = dict(in_channels=4, out_channels=8)
COC_ARGS = dict(in_channels=4, out_channels=8, kernel_size=3)

API_CASES = [
    # CPWConv2d
    (
        CPWConv2d,
        dict(in_channels=4, out_channels=0),
        ValueError,
        'out_channels',
    ),
    (
        CPWConv2d,
        dict(in_channels=-1, out_channels=4),
        ValueError,
        'in_channels',
    ),
    (
        CPWConv2d,
        dict(in_channels=4.0, out_channels=4),
        TypeError,
        'in_channels',
    ),
    (CPWConv2d, dict(CPWC_ARGS, stage2='yes'), ValueError, 'stage2'),
    (CPWConv2d, dict(CPWC_ARGS, pwc=1), ValueError, 'pwc'),
    (CPWConv2d, dict(CPWC_ARGS, kernel_size=3), ValueError, 'kernel_size'),
    (CPWConv2d, dict(CPWC_ARGS, groups=2), ValueError, 'groups'),
    (CPWConv2d, dict(CPWC_ARGS, stride=0), ValueError, 'stride'),
    (CPWConv2d, dict(CPWC_ARGS, padding=1), ValueError, 'padding'),
    # CoCConv2d
    (CoCConv2d, dict(COC_ARGS, sa=1), ValueError, 'sa'),
    (CoCConv2d, dict(COC_ARGS, sa=2.0), ValueError, 'sa'),
    (CoCConv2d, dict(COC_ARGS, sk_plus=3), ValueError, 'sk_plus'),
    (CoCConv2d, dict(COC_ARGS, sk_plus=-2), ValueError, 'sk_plus'),
    (CoCConv2d, dict(COC_ARGS, sk_plus=8), ValueError, 'sk_plus'),
    (CoCConv2d, dict(COC_ARGS, kernel_size=1), ValueError, 'kernel_size'),
    (CoCConv2d, dict(COC_ARGS, kernel_size=(3, 5)), ValueError, 'kernel_size'),
    (CoCConv2d, dict(COC_ARGS, out_channels=0), ValueError, 'out_channels'),
    (CoCConv2d, dict(COC_ARGS, skip='no'), ValueError, 'skip'),
    (CoCConv2d, dict(COC_ARGS, groups=3), ValueError, 'groups'),
    # backbones
    (CPWCResNet, dict(depth=49), ValueError, 'depth'),
    (CPWCResNet, dict(depth='50'), ValueError, 'depth'),
    (
        CPWCResNet,
        dict(depth=50, conversion=dict(type='CPWC', stage2='yes')),
        ValueError,
        'stage2 must be True or False',
    ),
    (
        CPWCResNet,
        dict(depth=50, conversion=dict(type='CPWC', stage_2=True)),
        ValueError,
        "conversion CPWC: unknown arguments ['stage_2']",
    ),
    (CPWCResLayer, dict(depth=None), ValueError, 'depth'),
    (CPWCBackbone, dict(backbone='ResNet'), ValueError, 'backbone'),
    (CoCResNet, dict(depth=51), ValueError, 'depth'),
    (
        CoCResNet,
        dict(depth=18, conversion=dict(type='cocc')),
        ValueError,
        'conversion type must be one of',
    ),
    (
        CoCResNet,
        dict(depth=18, conversion=dict(type='CPWC')),
        ValueError,
        'CoCResNet takes conversion types CoC, stnd, orth',
    ),
    (
        CPWCResNet,
        dict(depth=18, conversion=dict(type='CPWC'), deploy=True),
        ValueError,
        'deploy=True: CPWC has no deploy form',
    ),
    (
        CoCResNet,
        dict(depth=18, conversion=dict(type='CoC', sa=1)),
        ValueError,
        'sa',
    ),
    (
        CoCResNet,
        dict(depth=18, conversion=dict(type='CoC', sk_plus=3)),
        ValueError,
        'sk_plus',
    ),
    (
        CoCResNet,
        dict(depth=18, conversion=dict(type='CoC', skp=2)),
        ValueError,
        "conversion CoC: unknown arguments ['skp']",
    ),
    (CoCResNet, dict(depth=18, deploy='yes'), ValueError, 'deploy'),
    (
        CoCHRNet,
        dict(extra={}, conversion=dict(type='x')),
        ValueError,
        'conversion type must be one of',
    ),
    (
        CoCResNet,
        dict(depth=18, conversion='stnd'),
        ValueError,
        'conversion must be a dict with a type',
    ),
]


@pytest.mark.parametrize(
    'cls,kwargs,error,name',
    API_CASES,
    ids=[f'{c[0].__name__}-{c[3]}-{i}' for i, c in enumerate(API_CASES)],
)
def test_api_error_names_the_argument(cls, kwargs, error, name):
    with pytest.raises(error) as err:
        cls(**kwargs)
    message = str(err.value)
    assert message.startswith(name), message
    assert '\n' not in message


def test_cli_missing_config():
    assert_one_line_error(
        run_tool('tools/train.py', 'configs/nope.py'),
        'config file configs/nope.py does not exist',
    )


def test_cli_missing_data_root(tmp_path):
    result = run_tool(
        'tools/train.py',
        TOY,
        *cfg_options(toy_overrides(str(tmp_path / 'nope') + '/', tmp_path)),
    )
    assert_one_line_error(
        result, 'data_root', 'does not exist', 'make_toy_coco.py'
    )


def test_cli_annotation_not_coco(tmp_path, toy_root):
    bad = tmp_path / 'not_coco.json'
    bad.write_text(json.dumps({'hello': 'world'}))
    overrides = toy_overrides(toy_root, tmp_path)
    overrides['train_dataloader.dataset.ann_file'] = str(bad)
    assert_one_line_error(
        run_tool('tools/train.py', TOY, *cfg_options(overrides)),
        'not a COCO annotation file',
        'images',
    )


def test_cli_unknown_backbone(tmp_path, toy_root):
    overrides = toy_overrides(toy_root, tmp_path)
    overrides['model.backbone.type'] = 'CPWCResNeet'
    assert_one_line_error(
        run_tool('tools/train.py', TOY, *cfg_options(overrides)),
        "model.backbone.type='CPWCResNeet'",
        'not registered',
    )


def test_cli_bad_layer_argument(tmp_path, toy_root):
    overrides = toy_overrides(toy_root, tmp_path)
    overrides['model.backbone.conversion.stage2'] = 'maybe'
    assert_one_line_error(
        run_tool('tools/train.py', TOY, *cfg_options(overrides)),
        'stage2 must be True or False',
    )


def test_cli_checkpoint_keys_do_not_fit(tmp_path, toy_root):
    ckpt = tmp_path / 'other.pth'
    torch.save(
        {
            'state_dict': {
                'backbone.conv1.weight': torch.zeros(1),
                'something.else': torch.zeros(1),
            }
        },
        ckpt,
    )
    result = run_tool(
        'tools/test.py',
        TOY,
        str(ckpt),
        *cfg_options(toy_overrides(toy_root, tmp_path)),
    )
    assert_one_line_error(
        result,
        'does not fit',
        'missing keys',
        "unexpected keys ['something.else']",
        "shape mismatch ['backbone.conv1.weight']",
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU-only box')
def test_cli_gpu_only_option_on_a_cpu(tmp_path, toy_root):
    result = run_tool(
        'tools/train.py',
        TOY,
        '--amp',
        *cfg_options(toy_overrides(toy_root, tmp_path)),
    )
    assert_one_line_error(
        result, '--amp needs a CUDA device', 'run without --amp'
    )


def test_cli_non_finite_loss_stops_before_saving(tmp_path, toy_root):
    overrides = toy_overrides(toy_root, tmp_path, max_iters=4)
    overrides['default_hooks.checkpoint.interval'] = 1
    overrides['model.data_preprocessor.std'] = '[0,0,0]'  # inputs -> inf
    result = run_tool('tools/train.py', TOY, *cfg_options(overrides))
    assert_one_line_error(
        result, 'is nan at iteration 1', 'stopped before saving'
    )
    assert not list(tmp_path.glob('*.pth'))
