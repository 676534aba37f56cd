"""Train a detector: ``python tools/train.py CONFIG [--work-dir DIR]
[--resume [CKPT]] [--amp] [--auto-scale-lr] [--cfg-options k=v ...]
[--launcher pytorch]``.

mmdet 3.3's tools/train.py command line, option for option; cpwc_mmdet's
modules are registered on import, NaN / inf losses stop training before a
checkpoint is written, and checkpoints keep every rank's RNG states.
"""

import argparse
import sys

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.utils.cli import (
    add_run_arguments,
    add_safety_hooks,
    build_runner,
    export_local_rank,
    load_run_config,
    one_line_errors,
)
from cpwc_mmdet.utils.preflight import UserInputError, preflight
from cpwc_mmdet.utils.tool_options import (
    apply_amp,
    apply_resume,
    enable_auto_scale_lr,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train a detector',
        usage='%(prog)s config [--resume [CKPT]] [options]',
    )
    # optional here only to explain `--resume CONFIG` (see below)
    parser.add_argument('config', nargs='?', help='train config file path')
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
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def check_config_argument(args) -> None:
    """mmdet's ``--resume`` takes an optional path, so ``--resume CONFIG``
    takes the config as the checkpoint: say so in one line."""
    resume = args.resume or ''
    if resume.endswith('.py') and not (args.config or '').endswith('.py'):
        raise UserInputError(
            f'--resume took {resume} as the checkpoint to resume from; put '
            f'the config first: train.py {resume} --resume (latest '
            f'checkpoint of the work dir) or train.py {resume} --resume CKPT'
        )
    if args.config is None:
        raise UserInputError('the following arguments are required: config')


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('train.py'):
        check_config_argument(args)
        cfg = load_run_config(args)
        if args.amp:
            apply_amp(cfg)
        if args.auto_scale_lr:
            enable_auto_scale_lr(cfg)
        apply_resume(cfg, args.resume)
        add_safety_hooks(cfg)
        preflight(cfg, splits=('train', 'val'))
        runner = build_runner(cfg)
        runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(main())
