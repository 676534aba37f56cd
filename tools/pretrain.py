"""Pretrain a backbone as an mmpretrain classifier (ImageNet, CIFAR-100 or
the toy set): ``python tools/pretrain.py CONFIG [--work-dir DIR]
[--resume [CKPT]] [--amp] [--auto-scale-lr] [--cfg-options k=v ...]
[--launcher pytorch]``; ``--test CKPT`` evaluates CKPT on the config's test
set instead (top-1: mmpretrain's Accuracy), printing ``key=value`` metrics
and writing them to mmengine's ``<timestamp>/<timestamp>.json``.

tools/train.py's options for the configs in ``configs/cpwc``, ``configs/coc``
and ``configs/toy`` whose ``default_scope`` is ``'mmpretrain'``: the runner
builds from mmpretrain's registries, the backbones come from ours through
cross-scope types (``mmdet.CPWCResNet``). NaN / inf losses stop training
before a checkpoint is written, and checkpoints keep every rank's RNG
states, as in tools/train.py. The checkpoint starts a detector through
tools/model_converters/pretrain_to_detector.py.
"""

import argparse
import os
import sys

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmpretrain.registry import MODELS

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.utils.cli import (
    add_run_arguments,
    build_runner,
    export_local_rank,
    load_run_config,
    one_line_errors,
)
from cpwc_mmdet.utils.preflight import UserInputError
from cpwc_mmdet.utils.tool_options import (
    apply_amp,
    apply_resume,
    enable_auto_scale_lr,
)

#: the hooks tools/train.py adds, named across registries (they live in
#: mmdet's HOOKS; a pretraining config's default scope is mmpretrain)
SAFETY_HOOKS = ('mmdet.NonFiniteLossHook', 'mmdet.RNGStateHook')

DATA_HINT = (
    'run `python tools/dataset_converters/make_toy_cls.py` for the '
    'toy set, prepare ImageNet / CIFAR-100 as mmpretrain documents, '
    'or set --cfg-options'
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Pretrain a backbone (mmpretrain classifier)'
    )
    parser.add_argument('config', help='pretraining config file path')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision'
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the total batch size',
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work '
        'dir when no CKPT is given',
    )
    parser.add_argument(
        '--test',
        metavar='CKPT',
        help="evaluate CKPT on the config's test set instead of training",
    )
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def check_scope(cfg: Config, path: str) -> None:
    """Only mmpretrain configs: a detection config goes to tools/train.py."""
    scope = cfg.get('default_scope')
    if scope != 'mmpretrain':
        raise UserInputError(
            f"{path} has default_scope={scope!r}, not 'mmpretrain': it is "
            'not a pretraining config (train detectors with tools/train.py)'
        )


def check_model_types(cfg: Config) -> None:
    """Every ``type`` of the model's components is in mmpretrain's MODELS
    (scoped types such as ``mmdet.CPWCResNet`` resolve across registries)."""

    def walk(node, where):
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, f'{where}[{i}]')
            return
        if not isinstance(node, dict):
            return
        kind = node.get('type')
        if isinstance(kind, str) and MODELS.get(kind) is None:
            raise UserInputError(
                f"{where}.type={kind!r} is not registered in mmpretrain's "
                'MODELS (a typo, or a missing custom_imports?)'
            )
        for key, value in node.items():
            if key in ('backbone', 'neck', 'head', 'data_preprocessor'):
                walk(value, f'{where}.{key}')

    walk(cfg.model, 'model')


def check_datasets(cfg: Config) -> None:
    """The train and val datasets' ``data_root`` and ``ann_file`` exist."""
    for name in ('train_dataloader', 'val_dataloader'):
        loader = cfg.get(name)
        if not loader or not loader.get('dataset'):
            continue
        dataset = loader['dataset']
        root = dataset.get('data_root') or ''
        if root and not os.path.isdir(root):
            raise UserInputError(
                f'{name}: data_root {root!r} does not exist ({DATA_HINT})'
            )
        ann = dataset.get('ann_file')
        if ann and not os.path.isfile(os.path.join(root, ann)):
            raise UserInputError(
                f'{name}: annotation file '
                f'{os.path.join(root, ann)} does not exist '
                f'({DATA_HINT})'
            )


def add_safety_hooks(cfg: Config) -> None:
    """NaN / inf stop and RNG states in checkpoints, unless present."""
    hooks = list(cfg.get('custom_hooks') or [])
    present = {str(h.get('type')).split('.')[-1] for h in hooks}
    hooks += [
        dict(type=kind)
        for kind in SAFETY_HOOKS
        if kind.split('.')[-1] not in present
    ]
    cfg.custom_hooks = hooks


def check_test_datasets(cfg: Config) -> None:
    """The test dataset's ``data_root`` exists."""
    loader = cfg.get('test_dataloader') or {}
    root = (loader.get('dataset') or {}).get('data_root') or ''
    if root and not os.path.isdir(root):
        raise UserInputError(
            f'test_dataloader: data_root {root!r} does not exist ({DATA_HINT})'
        )


def test(cfg: Config, checkpoint: str) -> int:
    """Evaluate ``checkpoint`` on the test set; print the metrics."""
    if not os.path.isfile(checkpoint):
        raise UserInputError(f'checkpoint {checkpoint} does not exist')
    cfg.load_from = checkpoint
    cfg.resume = False
    check_model_types(cfg)
    check_test_datasets(cfg)
    runner = build_runner(cfg)
    metrics = runner.test()
    if is_main_process():
        print(' '.join(f'{k}={v}' for k, v in metrics.items()))
    return 0


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('pretrain.py'):
        cfg = load_run_config(args)
        check_scope(cfg, args.config)
        if args.test:
            return test(cfg, args.test)
        if args.amp:
            apply_amp(cfg)
        if args.auto_scale_lr:
            if isinstance(cfg.get('auto_scale_lr'), dict):
                # mmpretrain's bases state base_batch_size only
                cfg.auto_scale_lr.setdefault('enable', False)
            enable_auto_scale_lr(cfg)
        apply_resume(cfg, args.resume)
        add_safety_hooks(cfg)
        check_model_types(cfg)
        check_datasets(cfg)
        runner = build_runner(cfg)
        runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(main())
