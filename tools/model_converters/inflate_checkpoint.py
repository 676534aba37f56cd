"""Inflate a plain ResNet checkpoint into a CPWC or CoC ResNet checkpoint.

Usage::

    python tools/model_converters/inflate_checkpoint.py SRC DST --to cpwc
        [--depth 50] [--prefix backbone.] [--style pytorch|caffe]

SRC: an mmdet/mmengine checkpoint (keys with or without ``backbone.``), a
torchvision-style ResNet state dict (mmdet's ResNet uses torchvision's key
names; ``fc.*`` is dropped), or a caffe-style one (MSRA ``res2a_branch2a`` or
Detectron ``res2_0_branch2a_w`` names, see
``cpwc_mmdet/backbones/resnet_key_names.py``; use ``--style caffe``). DST: a
checkpoint for ``load_from`` whose keys are prefixed with ``--prefix``.

``--to cpwc``: each 1x1 conv's weight becomes the CPWC layer's 1x1 path and
the context weights start at zero: the network computes exactly what the
plain one did. ``--to coc``: kernels are tiled into CoC's image and the super
conv contributes zero at step 0; exact with ``--coc-orth off`` (the default
here), while with orth the kernels are additionally standardised per filter.
The same inflation happens when a config's ``init_cfg=dict(type='Pretrained',
checkpoint=PLAIN)`` points at a plain checkpoint.
"""

import os
import sys

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.cli import (
    ArgumentParser,
    UserInputError,
    check_output,
    one_line_errors,
)
from cpwc_mmdet.utils.atomic_files import atomic_save
from cpwc_mmdet.utils.checkpoint_io import read_checkpoint, state_dict_of


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--to', required=True, choices=['cpwc', 'coc'])
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument(
        '--style', default='pytorch', choices=['pytorch', 'caffe']
    )
    parser.add_argument(
        '--prefix',
        default='backbone.',
        help="key prefix in DST ('' for a bare backbone)",
    )
    parser.add_argument(
        '--coc-orth',
        choices=['on', 'off'],
        default='off',
        help='CoC with the per-filter LayerNorm (not exact)',
    )
    return parser.parse_args(argv)


def plain_backbone_state(checkpoint: dict, src: str) -> dict:
    """The backbone's tensors of a detector / backbone / torchvision dict."""
    state = state_dict_of(checkpoint, src)
    if any(k.startswith('backbone.') for k in state):
        state = {
            k[len('backbone.') :]: v
            for k, v in state.items()
            if k.startswith('backbone.')
        }
    return {k: v for k, v in state.items() if not k.startswith('fc.')}


def main(argv=None):
    args = parse_args(argv)
    from mmdet.models.backbones import ResNet
    from mmdet.registry import MODELS

    with one_line_errors('inflate_checkpoint.py'):
        check_output(args.dst, 'DST', SRC=args.src)
        depths = sorted(ResNet.arch_settings)
        if args.depth not in depths:
            raise UserInputError(
                f'--depth must be one of {depths}, got {args.depth}'
            )
        state = plain_backbone_state(read_checkpoint(args.src), args.src)
        cfg = dict(
            type='CPWCResNet' if args.to == 'cpwc' else 'CoCResNet',
            depth=args.depth,
            style=args.style,
        )
        if args.to == 'coc':
            cfg['conversion'] = dict(type='CoC', orth=args.coc_orth == 'on')
        model = MODELS.build(cfg)
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as err:  # size mismatch: another depth / width
            shapes = [
                line.strip()
                for line in str(err).splitlines()
                if 'size mismatch' in line
            ]
            raise UserInputError(
                f'{args.src} is not a plain ResNet-{args.depth} '
                f'({len(shapes)} tensors of other shapes, e.g. '
                f'{shapes[0] if shapes else err}): is --depth right?'
            ) from None
        if missing or unexpected:
            raise UserInputError(
                f'{args.src} is not a plain ResNet-{args.depth} '
                f'(missing {sorted(missing)[:5]}, unexpected '
                f'{sorted(unexpected)[:5]})'
            )
    out = dict(
        state_dict={args.prefix + k: v for k, v in model.state_dict().items()},
        meta=dict(
            inflated_from=os.path.abspath(args.src), to=args.to, backbone=cfg
        ),
    )
    atomic_save(out, args.dst)
    print(
        f'inflated {len(state)} tensors of {args.src} into {cfg["type"]}: '
        f'wrote {args.dst}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
