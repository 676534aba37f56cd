"""Make the toy classification set (``cpwc_mmdet.datasets.toy_cls``).

Usage::

    python tools/dataset_converters/make_toy_cls.py [--out data/toy_cls]
        [--train 600] [--val 150] [--size 32] [--seed 0]

Writes ``OUT/train/<class>/*.png``, ``OUT/val/*.png`` and
``OUT/meta/{train,val}.txt`` (mmpretrain's ImageNet layout), read by the
toy pretraining configs in ``configs/toy/*_toy-cls.py``.
"""

import sys

from cpwc_mmdet.cli import ArgumentParser
from cpwc_mmdet.datasets.toy_cls import make_toy_cls


def parse_args(argv=None):
    parser = ArgumentParser(description='Make the toy classification set.')
    parser.add_argument('--out', default='data/toy_cls')
    parser.add_argument('--train', type=int, default=600)
    parser.add_argument('--val', type=int, default=150)
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    for name in ('train', 'val', 'size'):
        if getattr(args, name) <= 0:
            parser.error(f'--{name} must be positive')
    if args.size < 16:
        parser.error('--size must be at least 16')
    return args


def main(argv=None):
    args = parse_args(argv)
    for path in make_toy_cls(
        args.out, args.train, args.val, args.size, args.seed
    ):
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
