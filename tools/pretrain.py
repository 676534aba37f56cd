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
before a checkpoint is written, checkpoints are atomic and keep every
rank's RNG states, as in tools/train.py. The checkpoint starts a detector through
tools/model_converters/pretrain_to_detector.py.
"""

import sys

from mmengine.config import Config

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.cli import (
    ArgumentParser,
    UserInputError,
    add_train_arguments,
    build_runner,
    export_local_rank,
    load_exactly,
    load_run_config,
    one_line_errors,
    report_metrics,
    train,
)
from cpwc_mmdet.cli.preflight import DECODE_SAMPLE, preflight
from cpwc_mmdet.utils.checkpoint_io import read_state_dict


def parse_args(argv=None):
    parser = ArgumentParser(
        description='Pretrain a backbone (mmpretrain classifier)'
    )
    parser.add_argument('config', help='pretraining config file path')
    parser.add_argument(
        '--test',
        metavar='CKPT',
        help="evaluate CKPT on the config's test set instead of training",
    )
    add_train_arguments(parser)
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


def test(cfg: Config, checkpoint: str, decode=DECODE_SAMPLE) -> int:
    """Evaluate ``checkpoint`` on the test set; print the metrics. The
    checkpoint must fit the model exactly (as tools/test.py requires)."""
    _, state = read_state_dict(checkpoint)
    cfg.load_from = None
    cfg.resume = False
    preflight(cfg, splits=('test',), decode=decode)
    runner = build_runner(cfg)
    load_exactly(runner, state, checkpoint, "the config's model")
    report_metrics(runner.test(), cfg.work_dir)
    return 0


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('pretrain.py'):
        cfg = load_run_config(args)
        check_scope(cfg, args.config)
        if args.test:
            return test(cfg, args.test, args.decode_images)
        train(cfg, args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
