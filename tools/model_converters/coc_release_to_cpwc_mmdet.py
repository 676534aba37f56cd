"""Convert a checkpoint trained with the CoC authors' code into our keys.

Usage::

    python tools/model_converters/coc_release_to_cpwc_mmdet.py SRC DST

SRC: an mmcls checkpoint of the CoC release (Genera1Z/ConvolutionOfConvolution,
``ResNetCoc`` / ``HRNetCoc`` classifiers). Each of its ``Coc2d`` convs holds

* ``weight9``: the kernels tiled into the super conv's image, shaped
  ``(ci, co_pad / sa**2, sa*k, sa*k)`` (their ``share='ci'``): kernel ``j``
  of a group of ``sa**2`` at tile ``(j // sa, j % sa)``;
* ``conv_super.conv.weight``: the depthwise super kernels
  ``(co_pad / sa**2, 1, s, s)``, standardised before use when the release
  config had ``wsc=True``;
* ``conv_super.ln.{weight,bias}``: the LayerNorm after the super conv;
* ``norm_final.{weight,bias}``: the per-filter LayerNorm of the final
  weight (``ws='LN'``);

the same layout as our ``CoCConv2d`` (``weight_image``, ``super_kernel``,
``super_norm``, ``weight_norm``), so conversion renames keys; the other keys
(BN, 1x1 convs, ``head.fc``) already have mmdet's names. HRNetCoc's
in-backbone classification head (``incre_modules``, ``downsamp_modules``,
``final_layer``) is dropped: no detector uses it. DST is a classifier-shaped
checkpoint in our key names; start a detector from it with
``pretrain_to_detector.py`` (which checks every key against the detector).

The release's default (``sa=2, sk_plus=2, skip, dilat, wsc, ws='LN',
sbn='LN'``) is our ``CoCConv2d``'s default (``conversion=dict(type='CoC')``); without
``norm_final`` keys (``ws=False``) build ours with ``orth=False``, and with
``wsc=False`` with ``stnd=False`` (a release config setting the keys do not
show). Other variants (a BN after the super conv, a super conv with a bias,
``share`` other than ``'ci'``, ``ws='BN'``) are refused, one line.
"""

import os
import sys
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.cli import (
    ArgumentParser,
    UserInputError,
    check_output,
    one_line_errors,
)
from cpwc_mmdet.utils.atomic_files import atomic_save
from cpwc_mmdet.utils.checkpoint_io import read_state_dict

#: release suffix -> ours, inside one Coc2d
RENAMES = OrderedDict(
    [
        ('weight9', 'weight_image'),
        ('conv_super.conv.weight', 'super_kernel'),
        ('conv_super.ln.weight', 'super_norm.weight'),
        ('conv_super.ln.bias', 'super_norm.bias'),
        ('norm_final.weight', 'weight_norm.weight'),
        ('norm_final.bias', 'weight_norm.bias'),
    ]
)
REQUIRED = (
    'weight9',
    'conv_super.conv.weight',
    'conv_super.ln.weight',
    'conv_super.ln.bias',
)
#: HRNetCoc's classification head inside the backbone
RELEASE_CLS_HEAD = (
    'backbone.incre_modules.',
    'backbone.downsamp_modules.',
    'backbone.final_layer.',
)


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint of the CoC release')
    parser.add_argument('dst', help='checkpoint in cpwc_mmdet key names')
    return parser.parse_args(argv)


def check_coc_layer(state: Dict[str, torch.Tensor], prefix: str) -> None:
    """Raise (one line) unless the Coc2d at ``prefix`` is a variant our
    CoCConv2d computes: LayerNorm after the super conv, no super-conv bias,
    ``share='ci'``, final-weight norm absent or a LayerNorm."""
    extra = [
        k
        for k in state
        if k.startswith(prefix)
        and k[len(prefix) :] not in RENAMES
        and k[len(prefix) :] != 'bias'
    ]
    missing = [prefix + s for s in REQUIRED if prefix + s not in state]
    if missing or extra:
        raise UserInputError(
            f'{prefix[:-1]} is a Coc2d variant cpwc_mmdet does not build '
            f'(missing {missing or "none"}, other keys {sorted(extra)[:4]}): '
            "only LayerNorm super convs without bias (sbn='LN') and "
            "ws='LN' or no final norm convert"
        )
    image = state[prefix + 'weight9']
    kernel = state[prefix + 'conv_super.conv.weight']
    if (
        image.dim() != 4
        or kernel.dim() != 4
        or kernel.shape[1] != 1
        or image.shape[1] != kernel.shape[0]
        or tuple(state[prefix + 'conv_super.ln.weight'].shape)
        != tuple(image.shape[1:])
    ):
        raise UserInputError(
            f'{prefix[:-1]}: weight9 {tuple(image.shape)} and super kernel '
            f"{tuple(kernel.shape)} are not the share='ci' layout "
            '(image (ci, groups, sa*k, sa*k), kernel (groups, 1, s, s))'
        )


def convert(
    state: Dict[str, torch.Tensor],
) -> Tuple['OrderedDict[str, torch.Tensor]', List[str], int]:
    """The state dict in our names.

    Returns:
        tuple: ``(converted, dropped, num_coc_layers)``.
    """
    prefixes = [k[: -len('weight9')] for k in state if k.endswith('.weight9')]
    if not prefixes:
        raise UserInputError(
            'no Coc2d layer (no *.weight9 key): not a '
            'checkpoint of the CoC release'
        )
    for prefix in prefixes:
        check_coc_layer(state, prefix)
    renamed = {}
    for prefix in prefixes:
        for old, new in RENAMES.items():
            if prefix + old in state:
                renamed[prefix + old] = prefix + new
    converted, dropped = OrderedDict(), []
    for key, value in state.items():
        if key.startswith(RELEASE_CLS_HEAD):
            dropped.append(key)
        else:
            converted[renamed.get(key, key)] = value
    return converted, dropped, len(prefixes)


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('coc_release_to_cpwc_mmdet.py'):
        check_output(args.dst, 'DST', SRC=args.src)
        _, state = read_state_dict(args.src)
        converted, dropped, num_layers = convert(state)
    with_norm = any(k.endswith('.weight_norm.weight') for k in converted)
    out = dict(
        state_dict=converted,
        meta=dict(
            coc_release_to_cpwc_mmdet=dict(
                source=os.path.abspath(args.src),
                dropped=dropped,
                conversion=dict(type='CoC', orth=with_norm),
            )
        ),
    )
    atomic_save(out, args.dst)
    print(
        f'renamed {num_layers} Coc2d layers'
        + (
            f"; dropped {len(dropped)} keys of the release's in-backbone "
            'classification head'
            if dropped
            else ''
        )
        + f"; build with conversion=dict(type='CoC', orth={with_norm}): "
        f'wrote {args.dst}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
