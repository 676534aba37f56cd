"""Pretraining through mmpretrain's Runner: every family of pretraining
configs trains two iterations on the toy set and reports top-1 (the real
configs, narrowed, on toy data); tools/pretrain.py's checks; and the whole
path on the toy sets: pretrain -> pretrain_to_detector.py -> train a
detector -> COCO evaluation."""

import os
import types

import pytest
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import cpwc_mmdet  # noqa: F401
from cpwc_mmdet.cli import runner as cli_runner
from cpwc_mmdet.utils.safe_checkpoint import safe_load
from tests.helpers import (
    HRNET_TINY,
    ROOT,
    assert_one_line_error,
    cfg_options,
    load_tool,
    run_tool,
    tiny_toy_cls_set,
    toy_cls_overrides,
    toy_overrides,
)

RESNET_NARROW = dict(
    backbone=dict(base_channels=8), head=dict(in_channels=8 * 32)
)
#: family -> (a real pretraining config, model changes that make it small)
FAMILIES = {
    'cpwc-resnet': ('configs/cpwc/resnet50-cpwc_8xb32_in1k.py', RESNET_NARROW),
    'coc-resnet': ('configs/coc/resnet50-coc_8xb32_in1k.py', RESNET_NARROW),
    'stnd-resnet': ('configs/coc/resnet50-stnd_8xb32_in1k.py', RESNET_NARROW),
    'orth-resnet': ('configs/coc/resnet50-orth_8xb32_in1k.py', RESNET_NARROW),
    'coc-hrnet': (
        'configs/coc/hrnet-w18-coc_8xb32_in1k.py',
        dict(
            backbone=dict(backbone=dict(extra=HRNET_TINY)),
            neck=[
                dict(
                    type='HRFuseScales',
                    in_channels=(8, 16, 32, 64),
                    out_channels=32,
                ),
                dict(type='GlobalAveragePooling'),
            ],
            head=dict(in_channels=32),
        ),
    ),
    'cpwc-mobilenet-v2': (
        'configs/cpwc/mobilenet-v2-cpwc_8xb32_in1k.py',
        dict(backbone=dict(backbone=dict(widen_factor=0.25))),
    ),
    'cpwc-preact-resnet-cifar': (
        'configs/cpwc/resnet164-preact-cpwc_1xb128_cifar100.py',
        dict(backbone=dict(backbone=dict(depth=11))),
    ),
    'cpwc-resnext-cifar': (
        'configs/cpwc/resnext29-8x64d-cpwc_8xb16_cifar100.py',
        dict(
            backbone=dict(
                backbone=dict(
                    groups=2,
                    width_per_group=4,
                    stem_channels=16,
                    base_channels=16,
                )
            ),
            head=dict(in_channels=16 * 16),
        ),
    ),
}
TOY_CLS = 'configs/toy/resnet50-cpwc_toy-cls.py'
TOY_DETECTOR = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'


@pytest.fixture(scope='module')
def toy_cls_root(tmp_path_factory):
    """8 train images: two iterations of batch 4 make one epoch."""
    return tiny_toy_cls_set(
        tmp_path_factory.mktemp('cls'), num_train=8, num_val=6
    )


def on_toy_data(cfg, data_root, work_dir, name):
    """The config with the toy set's data and classes, one epoch of two
    iterations; its model, optimiser, schedule and runtime stay."""
    toy = Config.fromfile(os.path.join(ROOT, 'configs/toy/_base_/toy_cls.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = toy[key]
        loader.update(batch_size=4, num_workers=0, persistent_workers=False)
        loader.sampler = dict(
            type='DefaultSampler', shuffle=key == 'train_dataloader'
        )
        loader.dataset.data_root = data_root
        cfg[key] = loader
    cfg.val_evaluator = cfg.test_evaluator = toy.val_evaluator
    cfg.data_preprocessor.num_classes = 3
    cfg.model.head.num_classes = 3
    cfg.model.head.pop('topk', None)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    return cfg


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_family_trains_and_reports_top1(family, toy_cls_root, tmp_path):
    config, narrow = FAMILIES[family]
    cfg = Config.fromfile(os.path.join(ROOT, config))
    cfg.merge_from_dict(dict(model=narrow))
    on_toy_data(cfg, toy_cls_root, tmp_path, f'{family}-{tmp_path.name}')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        runner = Runner.from_cfg(cfg)
        runner.train()
    scalars = runner.message_hub.log_scalars
    assert runner.iter == 2
    assert torch.isfinite(torch.tensor(scalars['train/loss'].current()))
    assert 0 <= scalars['val/accuracy/top1'].current() <= 100
    state = safe_load(str(tmp_path / 'epoch_1.pth'))['state_dict']
    assert {k.split('.')[0] for k in state} >= {'backbone', 'head'}


def run_main(tool, capsys, *args):
    """tool.main(args) as a finished process."""
    try:
        code = tool.main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return types.SimpleNamespace(
        returncode=code, stdout=out.out, stderr=out.err
    )


def test_pretrain_tool_refuses_what_it_cannot_train(tmp_path, capsys):
    pretrain = load_tool('pretrain')
    result = run_main(pretrain, capsys, TOY_DETECTOR)
    assert_one_line_error(result, "default_scope='mmdet'", 'tools/train.py')
    result = run_main(
        pretrain,
        capsys,
        TOY_CLS,
        '--cfg-options',
        f'train_dataloader.dataset.data_root={tmp_path}/no',
    )
    assert_one_line_error(result, 'data_root', 'make_toy_cls.py')


def test_pretrain_tool_options_reach_the_config(
    monkeypatch, toy_cls_root, tmp_path
):
    """tools/train.py's options, on an mmpretrain config (whose
    auto_scale_lr states base_batch_size only)."""
    pretrain = load_tool('pretrain')
    built = {}

    class NoTraining:
        """A runner whose loops are the configs' dicts, built as is."""

        def __init__(self, cfg):
            built['cfg'] = cfg
            self._train_loop = cfg.train_cfg
            self._val_loop = cfg.val_cfg

        def build_train_loop(self, loop):
            built['train_loop'] = loop
            return loop

        def build_val_loop(self, loop):
            built['val_loop'] = loop
            return loop

        def train(self):
            built['trained'] = True

    monkeypatch.setattr(cli_runner, 'build_runner', NoTraining)
    config = 'configs/cpwc/resnet50-cpwc_8xb32_in1k.py'
    roots = [
        f'{k}_dataloader.dataset.data_root={toy_cls_root}'
        for k in ('train', 'val')
    ]
    args = [
        config,
        '--auto-scale-lr',
        '--resume',
        '--work-dir',
        str(tmp_path),
        '--cfg-options',
        *roots,
    ]
    assert pretrain.main(args) == 0 and built['trained']
    cfg = built['cfg']
    assert built['train_loop'] == cfg.train_cfg  # built before training
    assert built['val_loop'] == cfg.val_cfg
    assert cfg.auto_scale_lr == dict(base_batch_size=256, enable=True)
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.work_dir == str(tmp_path)
    assert [h['type'] for h in cfg.custom_hooks] == [
        'mmdet.NonFiniteLossHook',
        'mmdet.RNGStateHook',
        'mmdet.NormRecalibrationHook',
    ]
    checkpoint = cfg.default_hooks.checkpoint.type
    assert checkpoint == 'mmdet.AtomicCheckpointHook'


def test_toy_pretrain_bridge_detect_evaluate(toy_cls_root, toy_root, tmp_path):
    """The whole path, through the command lines a user runs."""
    cls_dir, det_dir = tmp_path / 'cls', tmp_path / 'det'
    run_tool(
        'tools/pretrain.py',
        TOY_CLS,
        *cfg_options(toy_cls_overrides(toy_cls_root, cls_dir)),
        check=True,
    )
    source = safe_load(str(cls_dir / 'iter_2.pth'))['state_dict']
    bridged = tmp_path / 'bridged.pth'
    out = run_tool(
        'tools/model_converters/pretrain_to_detector.py',
        str(cls_dir / 'iter_2.pth'),
        str(bridged),
        '--config',
        TOY_DETECTOR,
        check=True,
    )
    assert (
        'into roi_head.shared_head.* (from backbone.layer4.*); unused '
        '(classifier only): head.fc.bias, head.fc.weight' in out.stdout
    )

    # the detection config's init_cfg prefixes load it exactly
    cfg = Config.fromfile(os.path.join(ROOT, TOY_DETECTOR))
    cfg.model.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=str(bridged), prefix='backbone.'
    )
    cfg.model.roi_head.shared_head.init_cfg = dict(
        type='Pretrained',
        checkpoint=str(bridged),
        prefix='roi_head.shared_head.',
    )
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = DET_MODELS.build(cfg.model)
        detector.init_weights()
    parts = {
        'backbone.': detector.backbone.state_dict(),
        'backbone.layer4.': detector.roi_head.shared_head.layer4.state_dict(),
    }
    assert sum(map(len, parts.values())) == sum(
        k.startswith('backbone.') for k in source
    )
    for prefix, state in parts.items():
        for key, value in state.items():
            torch.testing.assert_close(
                value, source[prefix + key], rtol=0, atol=0
            )

    # and the detector trains from it and is evaluated on COCO
    options = toy_overrides(toy_root, det_dir)
    options.update(
        {'load_from': str(bridged), 'model.test_cfg.rcnn.score_thr': 0.0}
    )
    result = run_tool(
        'tools/train.py', TOY_DETECTOR, *cfg_options(options), check=True
    )
    log = result.stdout + result.stderr
    assert f'Load checkpoint from {bridged}' in log
    assert 'coco/bbox_mAP:' in log
