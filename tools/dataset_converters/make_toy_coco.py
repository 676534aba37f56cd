"""Make the embedded toy COCO set (``cpwc_mmdet.datasets.toy_coco``).

Usage::

    python tools/dataset_converters/make_toy_coco.py [--out data/toy_coco]
        [--train 256] [--val 64] [--size 160] [--seed 0]

Writes ``OUT/{train,val}/*.png`` and ``OUT/annotations/instances_{train,val}.json``.
"""

import sys

from cpwc_mmdet.cli import ArgumentParser
from cpwc_mmdet.datasets.toy_coco import make_toy_coco


def parse_args(argv=None):
    parser = ArgumentParser(description='Make the toy COCO set.')
    parser.add_argument('--out', default='data/toy_coco')
    parser.add_argument('--train', type=int, default=256)
    parser.add_argument('--val', type=int, default=64)
    parser.add_argument('--size', type=int, default=160)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    for name in ('train', 'val', 'size'):
        if getattr(args, name) <= 0:
            parser.error(f'--{name} must be positive')
    if args.size < 48:
        parser.error('--size must be at least 48')
    return args


def main(argv=None):
    args = parse_args(argv)
    for path in make_toy_coco(
        args.out, args.train, args.val, args.size, args.seed
    ):
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
