"""Train a detector: ``python tools/train.py CONFIG [--work-dir DIR]
[--resume [CKPT]] [--amp] [--auto-scale-lr] [--cfg-options k=v ...]
[--launcher pytorch]``.

mmdet 3.3's tools/train.py command line, option for option; cpwc_mmdet's
modules are registered on import, and every config gets the project's
runtime (``cli.runner.add_runtime_hooks``): atomic checkpoints rotated
after the save, a stop at the first NaN / inf loss before a checkpoint is
written, and every rank's RNG states in checkpoints.
"""

import sys

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.cli import (
    ArgumentParser,
    UserInputError,
    add_train_arguments,
    export_local_rank,
    load_run_config,
    one_line_errors,
    train,
)


def parse_args(argv=None):
    parser = ArgumentParser(
        description='Train a detector',
        usage='%(prog)s config [--resume [CKPT]] [options]',
    )
    # optional here only to explain `--resume CONFIG` (see below)
    parser.add_argument('config', nargs='?', help='train config file path')
    add_train_arguments(parser)
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
        train(cfg, args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
