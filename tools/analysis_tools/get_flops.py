"""Params and FLOPs of a config's model, or CPWC's Table 2 (``--paper``).

Usage::

    python tools/analysis_tools/get_flops.py --paper
    python tools/analysis_tools/get_flops.py configs/faster_rcnn_r50_cpwc_coco.py \
        --shape 800 1333
    python tools/analysis_tools/get_flops.py --backbone "dict(type='CPWCResNet', depth=50)"

For a detector, FLOPs are those of ``extract_feat`` (backbone + neck) on one
image of ``--shape``; parameters are the whole model's. No dataset is needed.
"""
import argparse
import sys

import torch
from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', help='an mmdet config file')
    parser.add_argument('--paper', action='store_true',
                        help="CPWC Table 2: ResNet-50 with a 1000-class fc")
    parser.add_argument('--backbone', help='a backbone dict, e.g. '
                        "\"dict(type='CPWCResNet', depth=50)\"")
    parser.add_argument('--shape', type=int, nargs='+', default=[224],
                        help='input size: H [W]')
    parser.add_argument('--deploy', action='store_true',
                        help='re-parameterise the model first')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config items, key=value')
    args = parser.parse_args(argv)
    if sum(bool(x) for x in (args.config, args.paper, args.backbone)) != 1:
        parser.error('give exactly one of: CONFIG, --paper, --backbone')
    return args


def print_paper_table(size):
    from cpwc_mmdet.utils.census import format_table, table2
    rows = table2(size[0])
    print(f'CPWC Table 2 (ImageNet ResNet-50, 1000-class fc, '
          f'{size[0]}x{size[0]}, mmengine FlopAnalyzer):')
    print(format_table(
        ['model', 'paper params', 'params', 'backbone params', 'paper FLOPs',
         'MACs', 'GMACs'],
        [(r.name, r.paper_params, f'{r.params:,}', f'{r.backbone_params:,}',
          r.paper_flops, f'{r.flops:,}', f'{r.flops / 1e9:.3f}')
         for r in rows]))


def print_model_census(model, inputs, title):
    from cpwc_mmdet.utils.census import (FeatureExtractor, count_flops,
                                         count_params)
    print(title)
    print(f'  params: {count_params(model):,}')
    flops = count_flops(FeatureExtractor(model), inputs)
    print(f'  GMACs : {flops / 1e9:.3f} '
          f'(input {tuple(inputs[0].shape)})')


def main(argv=None):
    args = parse_args(argv)
    import cpwc_mmdet  # noqa: F401  (registers the modules)
    from cpwc_mmdet.conversion import switch_model_to_deploy
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    h = args.shape[0]
    w = args.shape[1] if len(args.shape) > 1 else h
    if args.paper:
        print_paper_table(args.shape)
        return 0
    if args.backbone:
        model = MODELS.build(
            eval(args.backbone, {'__builtins__': {}}, {'dict': dict}))
        title = f'backbone {args.backbone}'
    else:
        from mmengine.config import Config
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
    inputs = (torch.rand(1, 3, h, w), )
    if hasattr(model, 'extract_feat'):
        title += ' [FLOPs of extract_feat: backbone + neck]'
    print_model_census(model, inputs, title)
    return 0


if __name__ == '__main__':
    sys.exit(main())
