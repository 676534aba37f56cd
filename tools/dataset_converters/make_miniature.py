"""Make miniature COCO 2017 / ImageNet / CIFAR-100 sets laid out exactly
as the real ones (``cpwc_mmdet.datasets.miniature``), to try the full-data
path (``tools/reproduce.py TABLE --max-epochs 1 ...``) before committing
GPU days to it.

Usage::

    python tools/dataset_converters/make_miniature.py coco OUT
        [--train 4] [--val 2] [--seed 0]
    python tools/dataset_converters/make_miniature.py imagenet OUT
    python tools/dataset_converters/make_miniature.py cifar100 OUT

mmpretrain checks CIFAR-100's files against the real set's md5s and so
refuses the miniature one (see the module's docstring).
"""

import os
import sys

from cpwc_mmdet.cli import ArgumentParser, one_line_errors
from cpwc_mmdet.datasets.miniature import (
    make_mini_cifar100,
    make_mini_coco,
    make_mini_imagenet,
)

TOOL = 'make_miniature.py'


def parse_args(argv=None):
    parser = ArgumentParser(prog=TOOL, description=__doc__[:58])
    parser.add_argument('dataset', choices=('coco', 'imagenet', 'cifar100'))
    parser.add_argument('out', help='the data root to write')
    parser.add_argument(
        '--train', type=int, help='training images (per class: imagenet)'
    )
    parser.add_argument('--val', type=int, help='validation / test images')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    for name in ('train', 'val'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name} must be at least 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    counts = {
        k: v
        for k, v in (('train', args.train), ('val', args.val))
        if v is not None
    }
    with one_line_errors(TOOL):
        if args.dataset == 'coco':
            written = make_mini_coco(
                args.out,
                num_train=counts.get('train', 4),
                num_val=counts.get('val', 2),
                seed=args.seed,
            )
        elif args.dataset == 'imagenet':
            written = make_mini_imagenet(
                args.out,
                per_class=counts.get('train', 1),
                num_val=counts.get('val', 4),
                seed=args.seed,
            )
        else:
            written = [
                make_mini_cifar100(
                    args.out,
                    num_train=counts.get('train', 8),
                    num_test=counts.get('val', 4),
                    seed=args.seed,
                )
            ]
    for path in written:
        print(f'wrote {os.path.relpath(path)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
