"""tools/analysis_tools/erf.py: the ERF of toy backbones side by side, run
as a user runs it; bad input is one line and exit code 2."""

import re

import cv2
import matplotlib.image
import pytest
import torch
from mmengine.config import Config

from cpwc_mmdet.datasets import toy_images
from cpwc_mmdet.visualization import load_backbone
from tests.helpers import assert_one_line_error, load_tool, run_tool

TOOL = 'tools/analysis_tools/erf.py'
PLAIN = 'configs/toy/retinanet_r50_fpn_toy.py'
COC = 'configs/toy/retinanet_r50-coc_fpn_toy.py'
RADII = re.compile(
    r'^(.+): (\d+)x(\d+) output, ERF radius in input pixels 20% ([\d.]+), '
    r'50% ([\d.]+), 90% ([\d.]+), 99% ([\d.]+) \((\d+) images of '
    r'(\d+)x(\d+); radius ([\d.]+) is the border\)$',
    re.M,
)


def radii(stdout):
    """label -> (output side, [r20, r50, r90, r99], border radius)."""
    return {
        m[0]: (int(m[1]), [float(r) for r in m[3:7]], float(m[10]))
        for m in RADII.findall(stdout)
    }


def test_plain_and_coc_resnet_side_by_side_on_toy_images(tmp_path):
    out = tmp_path / 'erf.png'
    result = run_tool(
        TOOL,
        PLAIN,
        '--compare',
        COC,
        '--toy',
        '--num-images',
        '2',
        '--size',
        '128',
        '--out',
        str(out),
        check=True,
    )
    found = radii(result.stdout)
    assert sorted(found) == [
        'retinanet_r50-coc_fpn_toy (random init)',
        'retinanet_r50_fpn_toy (random init)',
    ]
    for side, rs, border in found.values():
        assert side == 4  # 128 px at stride 32
        assert rs == sorted(rs) and 0 < rs[0] and rs[-1] <= border
    assert f'ERF of 2 model(s) written to {out}' in result.stdout
    height, width, _ = matplotlib.image.imread(str(out)).shape
    assert width > 1.5 * height  # two panels side by side


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    for i, image in enumerate(toy_images(2, size=64)):
        cv2.imwrite(str(folder / f'{i}.png'), image)
    (folder / 'notes.txt').write_text('not an image')
    return folder


def test_images_folder_checkpoint_and_level(tmp_path, image_dir, capsys):
    backbone = load_backbone(Config.fromfile(PLAIN))
    checkpoint = tmp_path / 'plain.pth'
    torch.save(
        dict(
            state_dict={
                f'backbone.{k}': v for k, v in backbone.state_dict().items()
            }
        ),
        checkpoint,
    )
    out = tmp_path / 'erf.png'
    code = load_tool('analysis_tools/erf').main(
        [
            PLAIN,
            str(checkpoint),
            '--images',
            str(image_dir),
            '--level',
            '0',
            '--size',
            '64',
            '--labels',
            'ResNet-50 layer1',
            '--out',
            str(out),
        ]
    )
    assert code == 0 and out.is_file()
    ((side, rs, border),) = radii(capsys.readouterr().out).values()
    assert side == 16  # layer1: stride 4
    assert rs[-1] <= border
    # layer1's theoretical receptive field is 35 px: radius 17.5 at most
    assert rs[2] <= 17.5


def one_line_error(capsys, argv, *fragments):
    """The tool, run in this process, exits 2 with one stderr line."""
    with pytest.raises(SystemExit) as exited:
        load_tool('analysis_tools/erf').main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and 'Traceback' not in err, err
    assert lines[0].startswith('erf.py: error: ')
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_input_is_one_line(tmp_path, image_dir, capsys):
    toy = ['--toy', '--num-images', '1', '--size', '64']
    empty = tmp_path / 'empty'
    empty.mkdir()
    bad_checkpoint = tmp_path / 'bad.pth'
    torch.save({'backbone.conv1.weight': torch.zeros(1)}, bad_checkpoint)
    no_model = tmp_path / 'no_model.py'
    no_model.write_text('x = 1\n')
    out = ['--out', str(tmp_path / 'erf.png')]
    cases = [
        ([PLAIN], 'one of the arguments --images --toy is required'),
        (['missing.py', *toy, *out], 'config file missing.py does not exist'),
        ([PLAIN, '--images', str(empty), *out], 'holds no image'),
        ([PLAIN, '--images', str(tmp_path / 'nope'), *out], 'not a folder'),
        ([PLAIN, str(bad_checkpoint), *toy, *out], 'does not fit'),
        ([str(no_model), *toy, *out], 'defines no model.backbone'),
        ([PLAIN, *toy, '--level', '4', *out], '--level 4 is outside'),
        ([PLAIN, *toy, '--labels', 'a', 'b', *out], '--labels names 2'),
        ([PLAIN, *toy, '--compare', COC, 'x', 'y'], '--compare takes'),
        ([PLAIN, *toy, '--size', '8'], '--size must be >= 16'),
        ([PLAIN, *toy, '--out', PLAIN], 'would destroy the config'),
    ]
    for argv, fragment in cases:
        one_line_error(capsys, argv, fragment)
    assert not (tmp_path / 'erf.png').exists()


def test_bad_input_from_the_command_line(tmp_path):
    result = run_tool(TOOL, PLAIN, '--toy', '--level', '9', '--size', '64')
    assert_one_line_error(result, 'erf.py: error: --level 9 is outside')
