"""tools/analysis_tools/show_kernels.py: a toy CoC layer's kernels beside a
plain ResNet's, run as a user runs it; bad input is one line and exit 2."""

import matplotlib.image
import pytest
import torch
from mmengine.config import Config

from cpwc_mmdet.visualization import load_backbone
from tests.helpers import assert_one_line_error, load_tool, run_tool

TOOL = 'tools/analysis_tools/show_kernels.py'
PLAIN = 'configs/toy/retinanet_r50_fpn_toy.py'
COC = 'configs/toy/retinanet_r50-coc_fpn_toy.py'
FULL = 'configs/coc/retinanet_r50_fpn_1x_coco.py'  # base width 64


def test_coc_layer_beside_a_plain_resnets(tmp_path):
    checkpoint = tmp_path / 'coc.pth'
    backbone = load_backbone(Config.fromfile(COC))
    torch.save(
        dict(
            state_dict={
                f'backbone.{k}': v for k, v in backbone.state_dict().items()
            }
        ),
        checkpoint,
    )
    out = tmp_path / 'kernels.png'
    result = run_tool(
        TOOL,
        COC,
        str(checkpoint),
        '--layer',
        'backbone.layer1.0.conv2',
        '--compare',
        PLAIN,
        '--groups',
        '0',
        '1',
        '--out',
        str(out),
        check=True,
    )
    assert f'kernels of backbone.layer1.0.conv2 written to {out}' in (
        result.stdout
    )
    height, width, _ = matplotlib.image.imread(str(out)).shape
    assert width > height  # 4 columns, 2 rows


def one_line_error(capsys, argv, *fragments):
    with pytest.raises(SystemExit) as exited:
        load_tool('analysis_tools/show_kernels').main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and 'Traceback' not in err, err
    assert lines[0].startswith('show_kernels.py: error: ')
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_input_is_one_line(tmp_path, capsys):
    out = ['--out', str(tmp_path / 'k.png')]
    layer = ['--layer', 'layer1.0.conv2']
    cases = [
        ([COC, *out], ['the following arguments are required: --layer']),
        (
            [COC, '--layer', 'layer9.conv', *out],
            ['--layer layer9.conv: no such module', 'CoC layers: conv1, '],
        ),
        (
            [COC, '--layer', 'layer1.0.conv1', *out],
            ['is a Conv2d, not a CoC layer'],
        ),
        ([PLAIN, *layer, *out], ['is a Conv2d, not a CoC layer', 'none']),
        ([COC, *layer, '--groups', '9', *out], ['--groups [9]', '0..3']),
        (
            [COC, *layer, '--compare', FULL, *out],
            ['--compare', 'not a conv of shape (16, 16, 3, 3)'],
        ),
        ([COC, *layer, '--out', COC], ['would destroy the config']),
    ]
    for argv, fragments in cases:
        one_line_error(capsys, argv, *fragments)
    assert not (tmp_path / 'k.png').exists()


def test_bad_input_from_the_command_line(tmp_path):
    result = run_tool(
        TOOL, COC, '--layer', 'nope', '--out', str(tmp_path / 'k.png')
    )
    assert_one_line_error(result, 'show_kernels.py: error: --layer nope')
