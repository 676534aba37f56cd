"""Draw training curves (losses, mAP over iterations) of one or more runs.

Usage::

    python tools/analysis_tools/plot_curves.py WORK_DIR [WORK_DIR ...]
        [--keys loss loss_cls coco/bbox_mAP] [--out curves.png]
        [--labels NAME ...]

Reads mmengine's ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (the newest
run in each work dir; a ``<timestamp>`` folder or a ``scalars.json`` path is
accepted too) and draws one panel per key, the runs overlaid and labelled by
work dir. Default keys: every ``loss*`` and ``*_mAP`` that was logged.
"""

import os.path as osp
import sys

from cpwc_mmdet.cli import ArgumentParser
from cpwc_mmdet.visualization import (
    find_scalars_file,
    load_scalars,
    plot_training_curves,
    save_figure,
)

TOOL = 'plot_curves.py'


def parse_args(argv=None):
    parser = ArgumentParser(
        description='Draw losses and mAP over iterations of mmengine runs'
    )
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR')
    parser.add_argument(
        '--keys', nargs='+', help='scalars to draw (default: loss*, *_mAP)'
    )
    parser.add_argument(
        '--labels', nargs='+', help='legend names, one per WORK_DIR'
    )
    parser.add_argument('--out', default='curves.png', help='image to write')
    parser.add_argument('--columns', type=int, default=3)
    return parser.parse_args(argv)


def fail(message: str) -> None:
    print(f'{TOOL}: error: {" ".join(message.split())}', file=sys.stderr)
    sys.exit(2)


def main(argv=None):
    args = parse_args(argv)
    labels = args.labels or [osp.normpath(d) for d in args.work_dirs]
    if len(labels) != len(args.work_dirs):
        fail(
            f'--labels names {len(labels)} runs, but '
            f'{len(args.work_dirs)} work dirs were given'
        )
    if args.columns < 1:
        fail(f'--columns must be >= 1, got {args.columns}')
    runs = {}
    for label, work_dir in zip(labels, args.work_dirs):
        try:
            runs[label] = load_scalars(find_scalars_file(work_dir))
        except (OSError, ValueError) as err:
            fail(str(err))
    try:
        fig = plot_training_curves(runs, args.keys, args.columns)
    except ValueError:
        logged = sorted({k for scalars in runs.values() for k in scalars})
        wanted = ' '.join(args.keys) if args.keys else 'loss* or *_mAP'
        fail(f'no run logged {wanted}; logged: {", ".join(logged) or "none"}')
    save_figure(fig, args.out)
    print(f'curves of {len(runs)} run(s) written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
