"""The effective receptive field (ERF) of a backbone's output, and several
backbones' side by side (Luo et al., NeurIPS 2016).

Usage::

    python tools/analysis_tools/erf.py CONFIG [CHECKPOINT] (--images DIR | --toy)
        [--compare CONFIG [CHECKPOINT]] ... [--labels NAME ...]
        [--level -1] [--size 256] [--num-images 16] [--out erf.png]
        [--cfg-options k=v ...]

For each model: the gradient of the centre unit of one backbone output
(``--level``, an index into the backbone's outputs, default the last;
the response is the sum over its channels) with respect to the input,
its absolute value summed over channels and averaged over the images,
drawn as a heat map with the squares holding 20 / 50 / 90 / 99 % of it.
The radii are printed. Without CHECKPOINT the backbone is as training
starts it (its ``init_weights``). ``--toy`` uses the toy COCO set's first
val images, made in memory (no data folder needed).
"""

import os.path as osp
import sys

from mmengine.config import DictAction

import cpwc_mmdet  # noqa: F401  (registers the modules)
from cpwc_mmdet.cli import (
    ArgumentParser,
    UserInputError,
    build_user_error,
    check_output,
    load_config,
    one_line_errors,
)
from cpwc_mmdet.datasets import toy_images
from cpwc_mmdet.visualization import (
    FRACTIONS,
    border_radius,
    effective_receptive_field,
    image_batch,
    input_normalisation,
    load_backbone,
    plot_erf,
    read_images,
    save_figure,
    square_radii,
)

TOOL = 'erf.py'


def parse_args(argv=None):
    parser = ArgumentParser(prog=TOOL, description=__doc__.split('\n')[0])
    parser.add_argument('config', help='an mmdet / mmpretrain config')
    parser.add_argument('checkpoint', nargs='?', help='its weights')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--images', metavar='DIR', help='a folder of images')
    source.add_argument(
        '--toy', action='store_true', help="the toy COCO set's val images"
    )
    parser.add_argument(
        '--compare',
        nargs='+',
        action='append',
        default=[],
        metavar=('CONFIG', 'CHECKPOINT'),
        help='another model drawn beside the first (repeatable)',
    )
    parser.add_argument('--labels', nargs='+', help='one name per model')
    parser.add_argument(
        '--level', type=int, default=-1, help='backbone output (default last)'
    )
    parser.add_argument(
        '--size', type=int, default=256, help='input side in pixels'
    )
    parser.add_argument('--num-images', type=int, default=16)
    parser.add_argument('--out', default='erf.png', help='image to write')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override items of every config, key=value',
    )
    args = parser.parse_args(argv)
    for item in args.compare:
        if len(item) > 2:
            parser.error(f'--compare takes CONFIG [CHECKPOINT], got {item}')
    if args.size < 16:
        parser.error(f'--size must be >= 16, got {args.size}')
    if args.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {args.num_images}')
    return args


def model_list(args):
    """``[(label, config, checkpoint or None)]`` of the command line."""
    models = [(args.config, args.checkpoint)] + [
        (item[0], item[1] if len(item) > 1 else None) for item in args.compare
    ]
    if args.labels is None:
        labels = [
            osp.splitext(osp.basename(config))[0]
            + (' (random init)' if checkpoint is None else '')
            for config, checkpoint in models
        ]
    elif len(args.labels) != len(models):
        raise UserInputError(
            f'--labels names {len(args.labels)} models, but {len(models)} '
            'were given'
        )
    else:
        labels = args.labels
    return [(label, *model) for label, model in zip(labels, models)]


def describe(label, erf, radii) -> str:
    h, w = erf.out_shape
    size = 'x'.join(str(s) for s in erf.grad.shape)
    listed = ', '.join(f'{f:.0%} {r:.1f}' for f, r in zip(FRACTIONS, radii))
    return (
        f'{label}: {h}x{w} output, ERF radius in input pixels {listed} '
        f'({erf.num_images} images of {size}; radius '
        f'{border_radius(erf):.1f} is the border)'
    )


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors(TOOL):
        models = model_list(args)
        for _, config, checkpoint in models:
            check_output(
                args.out, 'figure', config=config, checkpoint=checkpoint
            )
        if args.toy:
            images = toy_images(args.num_images)
        else:
            images = read_images(args.images, args.num_images)
        erfs = {}
        for label, config, checkpoint in models:
            cfg = load_config(config, args.cfg_options)
            try:
                backbone = load_backbone(cfg, checkpoint, config)
            except (KeyError, ValueError, TypeError, AssertionError) as err:
                raise build_user_error(err) from err
            batch = image_batch(images, args.size, *input_normalisation(cfg))
            try:
                erf = effective_receptive_field(backbone, batch, args.level)
            except RuntimeError as err:
                raise UserInputError(
                    f'{config}: the backbone failed on {args.size} px '
                    f'images ({build_user_error(err)})'
                ) from err
            erfs[label] = erf
            print(describe(label, erf, square_radii(erf)), flush=True)
        save_figure(plot_erf(erfs), args.out)
    print(f'ERF of {len(erfs)} model(s) written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
