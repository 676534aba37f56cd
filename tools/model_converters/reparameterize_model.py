"""Re-parameterise a trained checkpoint into its deploy form.

Usage::

    python tools/model_converters/reparameterize_model.py CONFIG SRC DST

Builds CONFIG's model (train form), loads SRC strictly, turns every CoC /
stnd / orth conv into the plain conv it computes, and writes DST, which loads
with ``strict=True`` into the deploy config (the same config with
``model = dict(backbone=dict(deploy=True))``). Prints params and FLOPs of
both forms.
"""

import sys

import torch

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.cli import (
    ArgumentParser,
    UserInputError,
    build_user_error,
    check_output,
    load_config,
    one_line_errors,
)
from cpwc_mmdet.conversion import switch_model_to_deploy
from cpwc_mmdet.utils.atomic_files import atomic_save
from cpwc_mmdet.utils.census import FeatureExtractor, count
from cpwc_mmdet.utils.checkpoint_fit import describe_mismatch
from cpwc_mmdet.utils.checkpoint_io import read_checkpoint, state_dict_of


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('config', help='the train-form config')
    parser.add_argument('src', help='train-form checkpoint')
    parser.add_argument('dst', help='where to write the deploy checkpoint')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[224, 224],
        help='input H W for the FLOPs count',
    )
    return parser.parse_args(argv)


def census(model, shape):
    """(params, multiply-adds of extract_feat) of ``model``."""
    counts = count(model, (torch.rand(1, 3, *shape),), FeatureExtractor(model))
    return counts.params, counts.flops


def strip_training_state(checkpoint: dict) -> dict:
    """Keep weights and meta; drop optimizer / scheduler / message hub."""
    meta = dict(checkpoint.get('meta', {}))
    meta['reparameterized'] = True
    return dict(state_dict=checkpoint['state_dict'], meta=meta)


def main(argv=None):
    args = parse_args(argv)
    from mmdet.registry import MODELS

    with one_line_errors('reparameterize_model.py'):
        check_output(args.dst, 'DST', SRC=args.src, CONFIG=args.config)
        cfg = load_config(args.config)
        checkpoint = read_checkpoint(args.src)
        state = state_dict_of(checkpoint, args.src)
        try:
            model = MODELS.build(cfg.model)
        except (KeyError, ValueError, TypeError, AssertionError) as err:
            raise build_user_error(err) from err
        mismatch = describe_mismatch(model, state)
        if mismatch:
            raise UserInputError(
                f'{args.src} does not fit {args.config}: {mismatch}'
            )
        model.load_state_dict(state, strict=True)
    before = census(model, args.shape)
    count = switch_model_to_deploy(model)
    after = census(model, args.shape)
    out = strip_training_state(
        checkpoint if 'state_dict' in checkpoint else dict(state_dict=state)
    )
    out['state_dict'] = model.state_dict()
    atomic_save(out, args.dst)
    print(f're-parameterised {count} convs')
    print(f'train form : params {before[0]:,}  GMACs {before[1] / 1e9:.3f}')
    print(
        f'deploy form: params {after[0]:,}  GMACs {after[1] / 1e9:.3f}  '
        f'(input {args.shape[0]}x{args.shape[1]}, extract_feat)'
    )
    print(f'wrote {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
