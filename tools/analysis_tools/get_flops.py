"""Params and FLOPs of a config's model, or the census of the CPWC
classification tables (--paper).

Usage::

    python tools/analysis_tools/get_flops.py --paper [--table cpwc-table2] \
        [--params-only]
    python tools/analysis_tools/get_flops.py \
        configs/faster_rcnn_r50_cpwc_coco.py --shape 800 1333
    python tools/analysis_tools/get_flops.py \
        --backbone "dict(type='CPWCResNet', depth=50)"

For a detector, FLOPs are those of ``extract_feat`` (backbone + neck) on one
image of ``--shape``; parameters are the whole model's. For a classifier
(an mmpretrain config), FLOPs are the conv + fc multiply-adds of its logits.
No dataset is needed. ``--paper`` counts every row of the CPWC
classification tables (``cpwc_mmdet.reproduce.tables``: Table 1 and 4 on
CIFAR-100 at 32x32, Table 2 on ImageNet at 224x224) from its pretraining
config, and prints the exact counts next to the paper's figures.
"""

import ast
import os
import sys

import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import DictAction

import cpwc_mmdet  # noqa: F401  (registers the modules)
from cpwc_mmdet.cli import (
    ArgumentParser,
    UserInputError,
    load_config,
    one_line_errors,
)
from cpwc_mmdet.cli.errors import build_user_error
from cpwc_mmdet.conversion import switch_model_to_deploy
from cpwc_mmdet.reproduce.census import (
    build_model,
    format_census,
    table_census,
)
from cpwc_mmdet.reproduce.tables import TABLES
from cpwc_mmdet.utils.census import (
    ClassifierLogits,
    FeatureExtractor,
    count,
)

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
TOOL = 'get_flops.py'
#: the tables --paper counts: the classification ones
PAPER_TABLES = [
    name for name, t in TABLES.items() if t.kind == 'classification'
]


def parse_args(argv=None):
    parser = ArgumentParser(prog=TOOL, description=__doc__.split('\n')[0])
    parser.add_argument(
        'config', nargs='?', help='an mmdet / mmpretrain config'
    )
    parser.add_argument(
        '--paper',
        action='store_true',
        help='the CPWC classification tables (1, 2 and 4)',
    )
    parser.add_argument(
        '--table',
        choices=PAPER_TABLES,
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
    if len(args.shape) > 2 or min(args.shape) < 1:
        parser.error('--shape takes H [W], positive')
    return args


def parse_dict(text: str) -> dict:
    """A dict written as ``dict(k=v, ...)`` or ``{'k': v, ...}`` with
    literal values (nested dicts too), parsed, never evaluated.

    Raises:
        UserInputError: anything else, in one line.
    """

    def value(node):
        if isinstance(node, ast.Call):
            if not (
                isinstance(node.func, ast.Name) and node.func.id == 'dict'
            ):
                raise ValueError('only dict(...) calls')
            if node.args or any(k.arg is None for k in node.keywords):
                raise ValueError('dict(...) takes key=value pairs only')
            return {k.arg: value(k.value) for k in node.keywords}
        if isinstance(node, ast.Dict):
            return {
                ast.literal_eval(k): value(v)
                for k, v in zip(node.keys, node.values)
            }
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(v) for v in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        return ast.literal_eval(node)

    try:
        parsed = value(ast.parse(text.strip(), mode='eval').body)
    except (SyntaxError, ValueError, TypeError) as err:
        raise UserInputError(
            f'--backbone must be a dict of literals, e.g. "dict(type='
            f"'CPWCResNet', depth=50)\" ({err})"
        ) from None
    if not isinstance(parsed, dict) or 'type' not in parsed:
        raise UserInputError('--backbone must be a dict with a type')
    return parsed


def print_paper_tables(names, with_flops: bool) -> None:
    for name in names:
        table = TABLES[name]
        rows = table_census(table, ROOT, with_flops)
        print(format_census(table, rows), end='\n\n', flush=True)


def build(args):
    """(model, title, classifier?) of the command line."""
    register_all_modules()
    if args.backbone:
        spec = parse_dict(args.backbone)
        try:
            return MODELS.build(spec), f'backbone {args.backbone}', False
        except (KeyError, ValueError, TypeError, AssertionError) as err:
            raise build_user_error(err) from err
    cfg = load_config(args.config, args.cfg_options)
    if 'model' not in cfg:
        raise UserInputError(f'{args.config} defines no model')
    try:
        model = build_model(cfg)
    except (KeyError, ValueError, TypeError, AssertionError) as err:
        raise build_user_error(err) from err
    classifier = cfg.get('default_scope') == 'mmpretrain'
    return model, f'config {args.config}', classifier


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors(TOOL):
        if args.paper:
            print_paper_tables(
                args.table or PAPER_TABLES, not args.params_only
            )
            return 0
        h = args.shape[0]
        w = args.shape[1] if len(args.shape) > 1 else h
        model, title, classifier = build(args)
        if args.deploy:
            switch_model_to_deploy(model)
            title += ' (deploy form)'
        inputs = (torch.rand(1, 3, h, w),)
        if classifier:
            forward = ClassifierLogits(model)
            title += ' [FLOPs: conv + fc multiply-adds of the logits]'
        else:
            forward = FeatureExtractor(model)
            if hasattr(model, 'extract_feat'):
                title += ' [FLOPs of extract_feat: backbone + neck]'
        try:
            counts = count(model, inputs, forward)
        except RuntimeError as err:
            raise UserInputError(
                f'the model does not run on a {h}x{w} input '
                f'({str(err).splitlines()[0]})'
            ) from None
    print(title)
    print(f'  params: {counts.params:,}')
    flops = counts.macs if classifier else counts.flops
    print(f'  GMACs : {flops / 1e9:.3f} (input {tuple(inputs[0].shape)})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
