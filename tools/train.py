"""Train a detector: ``python tools/train.py CONFIG [--work-dir DIR]
[--resume [CKPT]] [--amp] [--cfg-options k=v ...] [--launcher pytorch]``.

The same command line as mmdet's tools/train.py; cpwc_mmdet's modules are
registered on import.
"""
import argparse
import sys

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)

from cpwc_mmdet.utils.cli import (add_run_arguments, add_safety_hooks,
                                  build_runner, check_amp, load_run_config,
                                  one_line_errors)
from cpwc_mmdet.utils.preflight import preflight


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work '
        'dir when no CKPT is given')
    add_run_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('train.py'):
        cfg = load_run_config(args)
        check_amp(args.amp)
        add_safety_hooks(cfg)
        if args.amp:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
        if args.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        if args.resume == 'auto':
            cfg.resume, cfg.load_from = True, None
        elif args.resume is not None:
            cfg.resume, cfg.load_from = True, args.resume
        preflight(cfg, splits=('train', 'val'))
        runner = build_runner(cfg)
        runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(main())
