"""mmdet 3.3's tools/train.py and tools/test.py options, one test each:
--amp, --auto-scale-lr, --resume, --local_rank, --show, --show-dir,
--wait-time, --tta. (--amp on a CPU: test_bad_input.py; --out and the
dist_*.sh launchers: test_dist_test.py, tests/test_engine/.)"""

import os
import pickle
from pathlib import Path

import mmcv
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config

import cpwc_mmdet  # noqa: F401
from cpwc_mmdet.cli.tool_options import (
    apply_amp,
    apply_tta,
    enable_visualization,
)
from cpwc_mmdet.utils.errors import UserInputError
from tests.helpers import (
    ROOT,
    assert_one_line_error,
    cfg_options,
    free_port,
    load_tool,
    run_tool,
    toy_overrides,
)

TOY = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'


def toy_cfg():
    return Config.fromfile(os.path.join(ROOT, TOY))


def no_training(options):
    """One iteration, no validation, no checkpoint."""
    options.update(
        {
            'train_cfg.max_iters': 1,
            'val_cfg': None,
            'val_dataloader': None,
            'val_evaluator': None,
            'train_cfg.val_interval': 1000,
            'default_hooks.checkpoint.interval': 1000,
        }
    )
    return options


# ---------------------------------------------------------------- --amp


def test_amp_turns_an_optim_wrapper_into_a_dynamic_amp_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = toy_cfg()
    apply_amp(cfg)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'  # the rest is kept


def test_amp_keeps_an_amp_optim_wrapper_and_warns(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = toy_cfg()
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 512.0
    apply_amp(cfg)
    assert cfg.optim_wrapper.loss_scale == 512.0
    assert 'AMP training is already enabled' in capsys.readouterr().err


def test_amp_does_not_replace_another_wrapper_type(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = toy_cfg()
    cfg.optim_wrapper.type = 'MyOptimWrapper'
    with pytest.raises(UserInputError, match="'MyOptimWrapper'"):
        apply_amp(cfg)
    assert cfg.optim_wrapper.type == 'MyOptimWrapper'


# ------------------------------------------------------- --auto-scale-lr


def test_auto_scale_lr_without_auto_scale_lr_is_a_one_line_error(
    tmp_path, toy_root
):
    options = toy_overrides(toy_root, tmp_path)
    options['auto_scale_lr'] = None
    result = run_tool(
        'tools/train.py', TOY, '--auto-scale-lr', *cfg_options(options)
    )
    assert_one_line_error(
        result, '--auto-scale-lr needs auto_scale_lr', 'base_batch_size=N'
    )


@pytest.fixture(scope='module')
def local_rank_run(tmp_path_factory, toy_root):
    """``train.py --launcher pytorch --local_rank 0 --auto-scale-lr`` with
    what ``torch.distributed.launch`` (without --use-env) sets: RANK,
    WORLD_SIZE, MASTER_*, but no LOCAL_RANK."""
    work_dir = tmp_path_factory.mktemp('local_rank')
    env = {k: v for k, v in os.environ.items() if k != 'LOCAL_RANK'}
    env.update(
        RANK='0',
        WORLD_SIZE='1',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(free_port()),
        OMP_NUM_THREADS='1',
    )
    result = run_tool(
        'tools/train.py',
        TOY,
        '--launcher',
        'pytorch',
        '--local_rank',
        '0',
        '--auto-scale-lr',
        *cfg_options(no_training(toy_overrides(toy_root, work_dir))),
        env=env,
    )
    result.log = ''.join(p.read_text() for p in work_dir.glob('*/*.log'))
    return result


def test_auto_scale_lr_scales_by_the_batch_size(local_rank_run):
    assert local_rank_run.returncode == 0, local_rank_run.stderr[-3000:]
    # toy: base_batch_size=4; here 1 process x 2 images
    assert (
        'LR is set based on batch size of 4 and the current batch size '
        'is 2. Scaling the original LR by 0.5.' in local_rank_run.log
    )


def test_local_rank_flag_is_enough_for_the_pytorch_launcher(local_rank_run):
    assert local_rank_run.returncode == 0, local_rank_run.stderr[-3000:]
    assert 'gloo' in local_rank_run.stderr  # it did join a process group


def test_local_rank_becomes_local_rank_env_unless_set(monkeypatch):
    train = load_tool('train')
    monkeypatch.setenv('LOCAL_RANK', 'x')
    monkeypatch.delenv('LOCAL_RANK')
    train.parse_args(['c.py', '--local_rank', '3'])
    assert os.environ['LOCAL_RANK'] == '3'
    load_tool('test').parse_args(['c.py', 'x.pth', '--local-rank', '5'])
    assert os.environ['LOCAL_RANK'] == '3'  # the launcher's value wins


# ---------------------------------------------------------------- --resume


def test_resume_takes_an_optional_checkpoint_as_mmdet():
    train = load_tool('train')
    assert train.parse_args(['c.py', '--resume']).resume == 'auto'
    args = train.parse_args(['--resume', 'a.pth', 'c.py'])
    assert (args.config, args.resume) == ('c.py', 'a.pth')
    args = train.parse_args(['c.py', '--resume', 'a.pth'])
    assert (args.config, args.resume) == ('c.py', 'a.pth')
    assert train.parse_args(['c.py']).resume is None


def test_resume_swallowing_the_config_is_a_one_line_error():
    result = run_tool('tools/train.py', '--resume', TOY)
    assert_one_line_error(
        result,
        f'--resume took {TOY} as the checkpoint',
        f'train.py {TOY} --resume',
    )


def test_resume_from_a_missing_checkpoint_is_a_one_line_error(
    tmp_path, toy_root
):
    result = run_tool(
        'tools/train.py',
        TOY,
        '--resume',
        str(tmp_path / 'nope.pth'),
        *cfg_options(toy_overrides(toy_root, tmp_path)),
    )
    assert_one_line_error(result, 'nope.pth: no such checkpoint')


# ---------------------------------------------------------------- test.py


@pytest.fixture(scope='module')
def random_checkpoint(tmp_path_factory):
    """The toy detector's freshly initialised weights: test.py only needs a
    checkpoint that fits (every score is kept, so there are boxes)."""
    cfg = toy_cfg()
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def eval_overrides(toy_root, work_dir):
    options = toy_overrides(toy_root, work_dir)
    options['model.test_cfg.rcnn.score_thr'] = 0.0
    return options


def test_show_and_wait_time_turn_on_the_visualization_hook():
    cfg = toy_cfg()
    enable_visualization(cfg, show=True, show_dir=None, wait_time=0.5)
    hook = cfg.default_hooks.visualization
    assert (hook.draw, hook.show, hook.wait_time) == (True, True, 0.5)
    assert 'test_out_dir' not in hook
    cfg = toy_cfg()
    enable_visualization(cfg, show=False, show_dir=None, wait_time=0.5)
    assert 'draw' not in cfg.default_hooks.visualization  # nothing asked
    del cfg.default_hooks['visualization']
    with pytest.raises(UserInputError, match='default_hooks.visualization'):
        enable_visualization(cfg, show=True, show_dir=None, wait_time=2)


def test_show_dir_saves_every_test_image(
    random_checkpoint, toy_root, tmp_path
):
    run_tool(
        'tools/test.py',
        TOY,
        str(random_checkpoint),
        '--show-dir',
        'painted',
        *cfg_options(eval_overrides(toy_root, tmp_path)),
        check=True,
    )
    # mmdet's rule: a relative --show-dir is under work_dir/<timestamp>/
    painted = sorted(tmp_path.glob('*/painted/*'))
    originals = sorted(Path(toy_root, 'val').iterdir())
    assert [p.name for p in painted] == [p.name for p in originals]
    for image, original in zip(painted, originals):
        height, width, _ = mmcv.imread(str(original)).shape
        # ground truth | predictions, side by side
        assert mmcv.imread(str(image)).shape == (height, 2 * width, 3)


def test_tta_uses_the_config_tta_model_and_pipeline():
    cfg = toy_cfg()
    cfg.tta_model = dict(
        type='DetTTAModel',
        tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.6), max_per_img=7),
    )
    cfg.tta_pipeline = [dict(type='LoadImageFromFile'), dict(type='Mine')]
    apply_tta(cfg)
    assert cfg.model.type == 'DetTTAModel'
    assert cfg.model.tta_cfg.max_per_img == 7
    assert cfg.model.module.type == 'FasterRCNN'
    assert cfg.test_dataloader.dataset.pipeline[-1].type == 'Mine'


def test_tta_without_config_entries_tests_flips(
    random_checkpoint, toy_root, tmp_path
):
    out = tmp_path / 'tta.pkl'
    result = run_tool(
        'tools/test.py',
        TOY,
        str(random_checkpoint),
        '--tta',
        '--out',
        str(out),
        *cfg_options(eval_overrides(toy_root, tmp_path)),
        check=True,
    )
    assert 'no tta_model in the config' in result.stderr  # mmdet's default
    assert 'no tta_pipeline in the config' in result.stderr
    assert result.stdout.splitlines()[-1].startswith('coco/bbox_mAP=')
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 4
    # the flip views' metadata: the TTA pipeline and model ran
    assert all('flip' in r and 'flip_direction' in r for r in results)
