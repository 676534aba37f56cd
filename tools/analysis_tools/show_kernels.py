"""Draw a CoC layer's kernels: the super kernel, the learned image, the
derived kernels in their sa x sa tiles, and a plain conv's beside them.

Usage::

    python tools/analysis_tools/show_kernels.py CONFIG [CHECKPOINT]
        --layer NAME [--compare CONFIG [CHECKPOINT]] [--groups 0 1 2 3]
        [--in-channel 0] [--out kernels.png] [--cfg-options k=v ...]

NAME is the layer's name in the backbone (``layer1.0.conv2``, ``conv1``;
a leading ``backbone.`` is accepted). ``--compare`` draws the layer of the
same name in another model (a plain ResNet's conv, or another CoC layer's
derived kernels) in the same tiles. Without CHECKPOINT a model is drawn as
training starts it (its ``init_weights``).
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
from cpwc_mmdet.visualization import (
    coc_kernel_views,
    coc_layer_names,
    is_coc_layer,
    load_backbone,
    plot_coc_kernels,
    save_figure,
    tiled_kernels,
)

TOOL = 'show_kernels.py'


def parse_args(argv=None):
    parser = ArgumentParser(prog=TOOL, description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a config with a CoC backbone')
    parser.add_argument('checkpoint', nargs='?', help='its weights')
    parser.add_argument('--layer', required=True, help='e.g. layer1.0.conv2')
    parser.add_argument(
        '--compare',
        nargs='+',
        metavar=('CONFIG', 'CHECKPOINT'),
        help='draw the same layer of this model too',
    )
    parser.add_argument(
        '--groups',
        type=int,
        nargs='+',
        default=[0, 1, 2, 3],
        help='groups of sa*sa kernels to draw',
    )
    parser.add_argument('--in-channel', type=int, default=0)
    parser.add_argument('--out', default='kernels.png', help='image to write')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override items of every config, key=value',
    )
    args = parser.parse_args(argv)
    if args.compare and len(args.compare) > 2:
        parser.error(
            f'--compare takes CONFIG [CHECKPOINT], got {args.compare}'
        )
    return args


def backbone_of(config, checkpoint, cfg_options=None):
    """The backbone of ``config`` (with ``checkpoint``'s weights)."""
    cfg = load_config(config, cfg_options)
    try:
        return load_backbone(cfg, checkpoint, config)
    except (KeyError, ValueError, TypeError, AssertionError) as err:
        raise build_user_error(err) from err


def some_names(names) -> str:
    """The first CoC layer names, for a message."""
    shown = ', '.join(names[:6]) or 'none'
    return shown + (', ...' if len(names) > 6 else '')


def layer_of(backbone, name: str, config: str):
    """The module ``name`` (``backbone.`` prefix allowed) of ``backbone``.

    Raises:
        UserInputError: no such module, naming some CoC layers there.
    """
    name = name[len('backbone.') :] if name.startswith('backbone.') else name
    try:
        return backbone.get_submodule(name)
    except AttributeError:
        raise UserInputError(
            f'--layer {name}: no such module in the backbone of {config} '
            f'(CoC layers: {some_names(coc_layer_names(backbone))})'
        ) from None


def coc_layer_of(backbone, name: str, config: str):
    """The CoC layer ``name`` of ``backbone``, or a one-line error."""
    layer = layer_of(backbone, name, config)
    if not is_coc_layer(layer):
        raise UserInputError(
            f'--layer {name} of {config} is a {type(layer).__name__}, not '
            f'a CoC layer (CoC layers: '
            f'{some_names(coc_layer_names(backbone))})'
        )
    return layer


def name_of(config, checkpoint) -> str:
    name = osp.splitext(osp.basename(config))[0]
    return name + (' (random init)' if checkpoint is None else '')


def compared_weight(other, layer, config: str, name: str):
    """The weight ``(co, ci, k, k)`` of the compared module: a plain conv's
    ``weight``, a re-parameterisable conv's ``deploy_weight()``.

    Raises:
        UserInputError: not a conv of the CoC layer's shape.
    """
    if hasattr(other, 'deploy_weight'):
        weight = other.deploy_weight()
    else:
        weight = getattr(other, 'weight', None)
    want = (layer.out_channels, layer.in_channels // layer.groups) + tuple(
        layer.kernel_size
    )
    if weight is None or tuple(weight.shape) != want:
        got = None if weight is None else tuple(weight.shape)
        raise UserInputError(
            f'--compare {config}: {name} is a {type(other).__name__} with '
            f'weight {got}, not a conv of shape {want}'
        )
    return weight


def main(argv=None):
    args = parse_args(argv)
    compare = list(args.compare or []) + [None] * (2 - len(args.compare or []))
    with one_line_errors(TOOL):
        check_output(
            args.out,
            'figure',
            config=args.config,
            checkpoint=args.checkpoint,
            compare_config=compare[0],
            compare_checkpoint=compare[1],
        )
        backbone = backbone_of(args.config, args.checkpoint, args.cfg_options)
        layer = coc_layer_of(backbone, args.layer, args.config)
        views = coc_kernel_views(layer, args.groups, args.in_channel)
        plain, plain_title = None, ''
        if compare[0]:
            other = backbone_of(*compare, args.cfg_options)
            weight = compared_weight(
                layer_of(other, args.layer, compare[0]),
                layer,
                compare[0],
                args.layer,
            )
            plain = tiled_kernels(
                weight, views.sa, views.groups, views.in_channel
            )
            plain_title = name_of(*compare)
        title = (
            f'{name_of(args.config, args.checkpoint)}: {args.layer} '
            f'({type(layer).__name__} {layer.in_channels}->'
            f'{layer.out_channels}, {views.k}x{views.k}, sa={views.sa})'
        )
        save_figure(
            plot_coc_kernels(views, plain, title, plain_title), args.out
        )
    print(f'kernels of {args.layer} written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
