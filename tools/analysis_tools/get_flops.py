"""Params and FLOPs of a config's model, or CPWC Tables 1 and 2 (--paper).

Usage::

    python tools/analysis_tools/get_flops.py --paper [--table 2] \
        [--params-only]
    python tools/analysis_tools/get_flops.py \
        configs/faster_rcnn_r50_cpwc_coco.py --shape 800 1333
    python tools/analysis_tools/get_flops.py \
        --backbone "dict(type='CPWCResNet', depth=50)"

For a detector, FLOPs are those of ``extract_feat`` (backbone + neck) on one
image of ``--shape``; parameters are the whole model's. No dataset is needed.
``--paper`` builds every row of CPWC Table 1 (CIFAR-100, 32x32) and Table 2
(ImageNet, 224x224) as mmpretrain's ImageClassifier and prints its exact
params and conv + fc multiply-adds next to the paper's figures.
"""

import argparse
import sys

import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config, DictAction

import cpwc_mmdet  # noqa: F401  (registers the modules)
from cpwc_mmdet.conversion import switch_model_to_deploy
from cpwc_mmdet.utils.census import (
    FeatureExtractor,
    census,
    count_flops,
    count_params,
    format_census,
)
from cpwc_mmdet.utils.paper_tables import PAPER_TABLES


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', help='an mmdet config file')
    parser.add_argument(
        '--paper',
        action='store_true',
        help='CPWC Tables 1 (CIFAR-100) and 2 (ImageNet)',
    )
    parser.add_argument(
        '--table',
        type=int,
        choices=(1, 2),
        action='append',
        help='with --paper: only this table (repeatable)',
    )
    parser.add_argument(
        '--params-only',
        action='store_true',
        help='with --paper: skip the FLOP count',
    )
    parser.add_argument(
        '--backbone',
        help='a backbone dict, e.g. "dict(type=\'CPWCResNet\', depth=50)"',
    )
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[224], help='input size: H [W]'
    )
    parser.add_argument(
        '--deploy', action='store_true', help='re-parameterise the model first'
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config items, key=value',
    )
    args = parser.parse_args(argv)
    if sum(bool(x) for x in (args.config, args.paper, args.backbone)) != 1:
        parser.error('give exactly one of: CONFIG, --paper, --backbone')
    if (args.table or args.params_only) and not args.paper:
        parser.error('--table and --params-only go with --paper')
    return args


def print_paper_tables(numbers, with_flops):
    for number, table in enumerate(PAPER_TABLES, 1):
        if number in numbers:
            print(
                format_census(table, census(table, with_flops)),
                end='\n\n',
                flush=True,
            )


def print_model_census(model, inputs, title):
    print(title)
    print(f'  params: {count_params(model):,}')
    flops = count_flops(FeatureExtractor(model), inputs)
    print(f'  GMACs : {flops / 1e9:.3f} (input {tuple(inputs[0].shape)})')


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()
    h = args.shape[0]
    w = args.shape[1] if len(args.shape) > 1 else h
    if args.paper:
        print_paper_tables(args.table or (1, 2), not args.params_only)
        return 0
    if args.backbone:
        model = MODELS.build(
            eval(args.backbone, {'__builtins__': {}}, {'dict': dict})
        )
        title = f'backbone {args.backbone}'
    else:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        cfg.model.get('backbone', {}).pop('init_cfg', None)
        model = MODELS.build(cfg.model)
        title = f'config {args.config}'
    if args.deploy:
        switch_model_to_deploy(model)
        title += ' (deploy form)'
    model.eval()
    inputs = (torch.rand(1, 3, h, w),)
    if hasattr(model, 'extract_feat'):
        title += ' [FLOPs of extract_feat: backbone + neck]'
    print_model_census(model, inputs, title)
    return 0


if __name__ == '__main__':
    sys.exit(main())
