"""A newcomer's first run of a shipped detection config (issue 27): the
README's ``python tools/train.py configs/faster_rcnn_r50_cpwc_coco.py``
without the bridged ImageNet checkpoint (and without COCO) ends in one
line that names the config key, the file and how to make it, before
anything is built; an empty or text file there is one true line too. The
preflight's checkpoint and image checks on their own: every checkpoint a
training reads, zero-byte and undecodable images, the decode sample, rank
0 only."""

import os
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config

from cpwc_mmdet.cli import preflight as pf
from cpwc_mmdet.utils.errors import UserInputError
from tests.helpers import ROOT, assert_one_line_error, load_tool, toy_overrides

CPWC_C4 = 'configs/faster_rcnn_r50_cpwc_coco.py'
COC_RETINANET = 'configs/coc/retinanet_r50-coc_fpn_1x_coco.py'
TOY = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'
KEY = 'model.backbone.init_cfg.checkpoint'


def newcomer_train(config, cwd, *args):
    """``python tools/train.py CONFIG`` from a fresh directory ``cwd``:
    no checkpoints/, no data/ (the shipped configs' relative paths)."""
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'train.py'),
         os.path.join(ROOT, config), *args],
        cwd=cwd, text=True, capture_output=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    'config,checkpoint,fragments',
    [
        (
            CPWC_C4,
            'checkpoints/resnet50-cpwc_in1k_det.pth',
            (
                'python tools/reproduce.py cpwc-table3 --rows cpwc',
                'inflate_checkpoint.py R50.pth r50-cpwc.pth --to cpwc',
                'pretrain_to_detector.py r50-cpwc.pth '
                'checkpoints/resnet50-cpwc_in1k_det.pth --config '
                + os.path.join(ROOT, CPWC_C4),
            ),
        ),
        (
            COC_RETINANET,
            'checkpoints/resnet50-coc_in1k_det.pth',
            (
                'python tools/reproduce.py coc-retinanet --rows coc',
                'inflate_checkpoint.py R50.pth '
                'checkpoints/resnet50-coc_in1k_det.pth --to coc '
                '--coc-orth on',
            ),
        ),
    ],
)
def test_a_newcomers_run_without_the_checkpoint_is_one_line(
    config, checkpoint, fragments, tmp_path
):
    result = newcomer_train(config, tmp_path)
    output = (result.stdout + result.stderr).splitlines()
    assert len(output) < 20, '\n'.join(output[:40])
    assert_one_line_error(
        result, f'train.py: error: {KEY}: {checkpoint} does not exist',
        *fragments,
    )  # fmt: skip
    assert not (tmp_path / 'work_dirs').exists()  # nothing made before


@pytest.fixture(scope='module')
def train_tool():
    return load_tool('train')


def run_main(tool, capsys, *args):
    with pytest.raises(SystemExit) as exit_:
        tool.main([str(a) for a in args])
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


@pytest.mark.parametrize(
    'content,message',
    [
        (b'', 'is empty (0 bytes)'),
        (b'see the shared drive for the weights\n', 'not a readable'),
    ],
)
def test_an_empty_or_text_file_at_the_checkpoint_path_is_one_line(
    content, message, train_tool, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'checkpoints').mkdir()
    path = 'checkpoints/resnet50-cpwc_in1k_det.pth'
    (tmp_path / path).write_bytes(content)
    code, _, err = run_main(train_tool, capsys, os.path.join(ROOT, CPWC_C4))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f'train.py: error: {KEY} {path} ')
    assert message in lines[0]
    assert 'weights_only' not in lines[0]


def test_training_checkpoints_are_every_pretrained_init_cfg_and_load_from():
    cfg = Config.fromfile(os.path.join(ROOT, CPWC_C4))
    cfg.work_dir = '/nonexistent'
    path = 'checkpoints/resnet50-cpwc_in1k_det.pth'
    keys = [key for key, _ in pf.pretrained_init_cfgs(cfg.model)]
    assert keys == [
        'model.backbone.init_cfg',
        'model.roi_head.shared_head.init_cfg',
    ]
    # the backbone and the shared head read one file: checked once
    assert pf.training_checkpoints(cfg) == [(KEY, path)]
    cfg.load_from = 'work/iter_1.pth'
    cfg.model.backbone.init_cfg = [
        dict(type='Kaiming', layer='Conv2d'),
        dict(type='Pretrained', checkpoint='a.pth'),
    ]
    assert pf.training_checkpoints(cfg) == [
        ('model.backbone.init_cfg.1.checkpoint', 'a.pth'),
        ('model.roi_head.shared_head.init_cfg.checkpoint', path),
        ('load_from', 'work/iter_1.pth'),
    ]
    cfg.load_from = 'torchvision://resnet50'  # left to mmengine
    assert ('load_from', 'torchvision://resnet50') not in (
        pf.training_checkpoints(cfg)
    )


def test_a_config_of_no_table_says_pretrain_and_bridge():
    cfg = Config.fromfile(
        os.path.join(
            ROOT, 'configs/cpwc/mask-rcnn_hrnetv2p-w18-cpwc_1x_coco.py'
        )
    )
    key, path = pf.training_checkpoints(cfg)[0]
    line = pf.missing_pretrained(cfg, key, path)
    assert 'tools/pretrain.py' in line
    assert f'pretrain_to_detector.py CKPT {path} --config' in line
    assert "mmpretrain's ImageNet HRNet-W18 checkpoint as it is" in line


# ------------------------------------------------------------- the images


def toy_cfg(data_root, work_dir):
    cfg = Config.fromfile(os.path.join(ROOT, TOY))
    cfg.merge_from_dict(toy_overrides(data_root, work_dir))
    return cfg


def test_an_empty_image_is_one_line(tmp_path, toy_root):
    data = shutil.copytree(toy_root, tmp_path / 'data')
    victim = sorted((data / 'train').iterdir())[2]
    victim.write_bytes(b'')
    with pytest.raises(UserInputError) as err:
        pf.preflight(toy_cfg(str(data) + '/', tmp_path), ('train', 'val'))
    assert str(err.value) == (
        'train_dataloader: 1 of the 8 images its annotation file names are '
        f'empty (0 bytes), e.g. {victim}'
    )


def test_a_sample_decodes_and_all_can_be_asked_for(tmp_path, toy_root, capsys):
    data = shutil.copytree(toy_root, tmp_path / 'data')
    files = sorted((data / 'train').iterdir())
    cfg = toy_cfg(str(data) + '/', tmp_path)
    files[3].write_bytes(b'\x89PNG not an image any more')
    pf.preflight(cfg, ('train', 'val'), decode=2)  # the first and the last
    assert 'exist (4 decoded; ' in capsys.readouterr().out
    with pytest.raises(UserInputError, match='cannot be decoded'):
        pf.preflight(cfg, ('train', 'val'))  # 64: all 8 here
    with pytest.raises(UserInputError, match='cannot be decoded'):
        pf.preflight(cfg, ('train', 'val'), decode='all')
    pf.preflight(cfg, ('train', 'val'), decode=0)
    files[-1].write_bytes(b'GIF89a cut short')
    with pytest.raises(UserInputError) as err:
        pf.preflight(cfg, ('train', 'val'), decode=2)
    assert str(err.value).startswith(
        f'train_dataloader: image {files[-1]} cannot be decoded ('
    )
    assert str(err.value).endswith('(--decode-images all checks every image)')


def test_only_rank_0_reads_the_images_and_checkpoints(
    tmp_path, toy_root, monkeypatch
):
    data = shutil.copytree(toy_root, tmp_path / 'data')
    sorted((data / 'train').iterdir())[0].unlink()
    cfg = toy_cfg(str(data) + '/', tmp_path)
    cfg.load_from = str(tmp_path / 'absent.pth')
    monkeypatch.setenv('RANK', '1')
    pf.preflight(cfg, ('train', 'val'))  # rank 0 says it
    monkeypatch.setenv('RANK', '0')
    with pytest.raises(UserInputError, match='absent.pth does not exist'):
        pf.preflight(cfg, ('train', 'val'))


def test_decode_images_is_an_option_of_the_runner_tools(
    train_tool, capsys, monkeypatch
):
    monkeypatch.setenv('LOCAL_RANK', '0')  # parse_args exports it
    parse = train_tool.parse_args
    assert parse([TOY, '--decode-images', 'all']).decode_images == 'all'
    assert parse([TOY, '--decode-images', '0']).decode_images == 0
    assert parse([TOY]).decode_images == pf.DECODE_SAMPLE
    with pytest.raises(SystemExit) as exit_:
        parse([TOY, '--decode-images', 'some'])
    assert exit_.value.code == 2
    assert "give a number of images or 'all', not 'some'" in (
        capsys.readouterr().err
    )
