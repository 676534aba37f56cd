"""Start a detector from a pretraining checkpoint (an mmpretrain classifier).

Usage::

    python tools/model_converters/pretrain_to_detector.py SRC DST \\
        --config DET_CONFIG

SRC: a checkpoint of tools/pretrain.py (mmpretrain's Runner: ``backbone.*``,
``neck.*``, ``head.fc.*``) or of coc_release_to_cpwc_mmdet.py. DST: the same
weights shaped like the detector DET_CONFIG builds: ``backbone.*`` and, for a
C4 detector whose shared RoI head is ResNet's layer4,
``roi_head.shared_head.layer4.*`` (the classifier's ``backbone.layer4.*``).
The detection configs load DST with

* ``backbone.init_cfg=dict(type='Pretrained', checkpoint=DST,
  prefix='backbone.')`` and, for C4, ``roi_head.shared_head.init_cfg=
  dict(type='Pretrained', checkpoint=DST, prefix='roi_head.shared_head.')``,
* or ``--cfg-options load_from=DST``.

Each check fails with one line (exit 2) instead of mmengine's non-strict
loading, which only warns and leaves the layers it could not fill random:

* every backbone (and shared-head) tensor of the detector is in SRC, with
  its shape, and every tensor of SRC lands in the detector, except the
  classifier's ``neck.*`` / ``head.*`` (listed as unused);
* SRC's layers are the config's method: a CoC checkpoint (``weight_image``)
  never goes into a CPWC config (``stage1``, ``pwc``), nor a plain one
  into either (inflate plain checkpoints with inflate_checkpoint.py);
* when SRC records its config (mmengine does): the same normalisation
  (mean, std, RGB order), ResNet style and conv type (``stnd`` and a
  baseline have the same keys) as the detection config.
"""

import math
import os
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.cli import (
    ArgumentParser,
    UserInputError,
    build_user_error,
    check_output,
    load_config,
    one_line_errors,
)
from cpwc_mmdet.utils.atomic_files import atomic_save
from cpwc_mmdet.utils.checkpoint_io import read_checkpoint, state_dict_of

#: where a classifier's ``backbone.X`` may land in a detector, in order
TARGET_PREFIXES = ('backbone.', 'roi_head.shared_head.')
#: classifier parts no detector uses
CLASSIFIER_ONLY = ('neck.', 'head.')
#: parameters that name a layer's method (CoC layers hold weight_norm too)
METHOD_KEYS = (
    ("coc in the CoC authors' key names", re.compile(r'\.weight9$')),
    ('coc', re.compile(r'\.(weight_image|super_kernel)$')),
    ('orth', re.compile(r'\.weight_norm\.weight$')),
    ('cpwc', re.compile(r'\.(pwc|stage1\.\d+|stage2)\.weight$')),
)
#: backbone types whose default conv_type is coc
COC_TYPES = ('CoCResNet', 'CoCHRNet', 'CoCBackbone')


def parse_args(argv=None):
    parser = ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='pretraining checkpoint')
    parser.add_argument('dst', help='detector-shaped checkpoint to write')
    parser.add_argument(
        '--config', required=True, help='the detection config DST is for'
    )
    return parser.parse_args(argv)


def methods_of(keys) -> List[str]:
    """The methods whose parameters appear in ``keys`` (``['plain']`` for
    none: a baseline or a stnd network)."""
    found = []
    for name, pattern in METHOD_KEYS:
        matches = [k for k in keys if pattern.search(k)]
        if matches and not (name == 'orth' and 'coc' in found):
            found.append(name)
    return found or ['plain']


def example_key(keys, method: str) -> str:
    """One key that shows ``method`` (for messages)."""
    pattern = dict(METHOD_KEYS).get(method)
    return next(
        (k for k in sorted(keys) if pattern and pattern.search(k)),
        sorted(keys)[0] if keys else '',
    )


def check_same_method(src_keys, det_keys, src: str, config: str) -> None:
    """One line if SRC's layers are another method than the config's."""
    have, want = methods_of(src_keys), methods_of(det_keys)
    if have == want:
        return
    hint = {
        'plain': 'inflate a plain checkpoint with tools/model_converters/'
        'inflate_checkpoint.py',
        "coc in the CoC authors' key names": 'convert it with tools/'
        'model_converters/coc_release_to_cpwc_mmdet.py first',
    }.get(have[0], 'pretrain with the config of the same method')
    raise UserInputError(
        f'{src} is a {"+".join(have)} backbone (e.g. '
        f'{example_key(src_keys, have[0])}) but {config} builds a '
        f'{"+".join(want)} one (e.g. {example_key(det_keys, want[0])}): '
        f'{hint}'
    )


def _short(keys, limit=4) -> str:
    keys = sorted(keys)
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def place_keys(
    src_state: Dict[str, torch.Tensor], det_state: Dict[str, torch.Tensor]
) -> Tuple['OrderedDict[str, torch.Tensor]', List[str]]:
    """Map a classifier's tensors onto a detector's keys.

    Returns:
        tuple: ``(placed, unused)``: the detector-keyed tensors, and the
        classifier-only keys (``neck.*``, ``head.*``) left out.

    Raises:
        UserInputError: keys of SRC that fit nowhere, detector keys SRC does
            not fill, or shapes that differ (one line).
    """
    placed, unused, unfit, shapes = OrderedDict(), [], [], {}
    for key, value in src_state.items():
        if key.startswith(CLASSIFIER_ONLY) or key.startswith(
            'data_preprocessor.'
        ):
            unused.append(key)
            continue
        local = (
            key[len('backbone.') :] if key.startswith('backbone.') else None
        )
        target = next(
            (
                p + local
                for p in TARGET_PREFIXES
                if local is not None and p + local in det_state
            ),
            None,
        )
        if target is None:
            unfit.append(key)
        elif tuple(det_state[target].shape) != tuple(value.shape):
            shapes[target] = (
                f'{key} {tuple(value.shape)} vs '
                f'{tuple(det_state[target].shape)}'
            )
        else:
            placed[target] = value
    missing = [
        k
        for k in det_state
        if k.startswith(TARGET_PREFIXES)
        and k not in placed
        and k not in shapes
    ]
    problems = []
    if unfit:
        problems.append(
            f'keys that fit nowhere in the detector: {_short(unfit)}'
        )
    if missing:
        problems.append(
            f'detector keys the checkpoint does not fill: {_short(missing)}'
        )
    if shapes:
        problems.append(
            f'shapes differ (checkpoint vs detector): '
            f'{_short(shapes.values(), 2)}'
        )
    if problems:
        raise UserInputError('; '.join(problems))
    return placed, unused


def find_value(node, key: str):
    """The first value of ``key`` in a nested config (None if absent)."""
    if isinstance(node, dict):
        if key in node:
            return node[key]
        for value in node.values():
            found = find_value(value, key)
            if found is not None:
                return found
    elif isinstance(node, (list, tuple)):
        for value in node:
            found = find_value(value, key)
            if found is not None:
                return found
    return None


def conv_type_of(backbone_cfg) -> Optional[str]:
    """The spatial conv type a backbone config builds: ``'coc'``,
    ``'stnd'``, ``'orth'``, or None (plain, or CPWC). Reads the conversion
    spec, or ``conv_type``, its spelling before 0.2 (recorded configs)."""
    conversion = find_value(backbone_cfg, 'conversion')
    kind = conversion.get('type') if isinstance(conversion, dict) else None
    if kind is None:
        kind = find_value(backbone_cfg, 'conv_type')
    if kind is not None:
        kind = str(kind).lower()
        return None if kind == 'cpwc' else kind
    types = []
    node = backbone_cfg
    while isinstance(node, dict):
        types.append(str(node.get('type', '')).split('.')[-1])
        node = node.get('backbone')
    return 'coc' if any(t in COC_TYPES for t in types) else None


def convention(preprocessor: dict, rgb_key: str, backbone: dict) -> dict:
    """What a checkpoint's weights assume about their input and layers."""
    preprocessor = preprocessor or {}
    return dict(
        mean=preprocessor.get('mean'),
        std=preprocessor.get('std'),
        rgb=bool(preprocessor.get(rgb_key, False)),
        style=find_value(backbone, 'style'),
        conv_type=conv_type_of(backbone),
    )


def pretrain_convention(checkpoint) -> Optional[dict]:
    """The convention of the config SRC records in ``meta['cfg']``."""
    text = (
        (checkpoint.get('meta') or {}).get('cfg')
        if isinstance(checkpoint, dict)
        else None
    )
    if not isinstance(text, str):
        return None
    try:
        cfg = Config.fromstring(text, '.py')
    except Exception as err:  # a config text this mmengine cannot read
        raise build_user_error(err) from err
    preprocessor = cfg.model.get('data_preprocessor') or cfg.get(
        'data_preprocessor'
    )
    return convention(preprocessor, 'to_rgb', cfg.model.get('backbone'))


def detector_conventions(cfg: Config) -> List[dict]:
    """The detection config's convention, once per pretrained part."""
    model = cfg.model
    parts = [model.get('backbone')]
    shared_head = (model.get('roi_head') or {}).get('shared_head')
    if shared_head:
        parts.append(shared_head)
    return [
        convention(model.get('data_preprocessor'), 'bgr_to_rgb', part)
        for part in parts
    ]


def _differs(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) != len(b) or any(
            not math.isclose(x, y, abs_tol=1e-3) for x, y in zip(a, b)
        )
    return a != b


def check_convention(
    have: dict, wants: List[dict], src: str, config: str
) -> None:
    """One line naming every field where SRC and the config disagree
    (style is compared only where both state it)."""
    diffs = []
    for want in wants:
        for field in ('mean', 'std', 'rgb', 'style', 'conv_type'):
            if field == 'style' and None in (have[field], want[field]):
                continue
            if _differs(have[field], want[field]) and not any(
                d.startswith(field + ' ') for d in diffs
            ):
                diffs.append(f'{field} {have[field]} vs {want[field]}')
    if diffs:
        raise UserInputError(
            f'{src} was pretrained with another convention than {config} '
            f'uses (pretraining vs detection: {"; ".join(diffs)}): make the '
            "detection config match the pretraining config's header"
        )


def build_detector_state(cfg: Config) -> Dict[str, torch.Tensor]:
    """The state dict of the detector ``cfg`` builds (no weights loaded)."""
    if cfg.get('default_scope', 'mmdet') != 'mmdet':
        raise UserInputError(
            f'--config has default_scope={cfg.get("default_scope")!r}: give '
            'the detection config the checkpoint is for'
        )
    try:
        with DefaultScope.overwrite_default_scope('mmdet'):
            model = MODELS.build(cfg.model)
    except (KeyError, ValueError, TypeError) as err:
        raise build_user_error(err) from err
    return model.state_dict()


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('pretrain_to_detector.py'):
        check_output(args.dst, 'DST', SRC=args.src, config=args.config)
        checkpoint = read_checkpoint(args.src)
        src_state = state_dict_of(checkpoint, args.src)
        cfg = load_config(args.config)
        det_state = build_detector_state(cfg)
        src_backbone = [k for k in src_state if k.startswith('backbone.')]
        det_parts = [k for k in det_state if k.startswith(TARGET_PREFIXES)]
        check_same_method(src_backbone, det_parts, args.src, args.config)
        have = pretrain_convention(checkpoint)
        if have is not None:
            check_convention(
                have, detector_conventions(cfg), args.src, args.config
            )
        placed, unused = place_keys(src_state, det_state)
    shared = sum(k.startswith('roi_head.shared_head.') for k in placed)
    out = dict(
        state_dict=placed,
        meta=dict(
            pretrain_to_detector=dict(
                source=os.path.abspath(args.src),
                config=args.config,
                unused=unused,
                convention=have,
            )
        ),
    )
    atomic_save(out, args.dst)
    print(
        f'{len(placed) - shared} tensors into backbone.*'
        + (
            f', {shared} into roi_head.shared_head.* (from backbone.layer4.*)'
            if shared
            else ''
        )
        + f'; unused (classifier only): {_short(unused) or "none"}'
    )
    if have is None:
        print(
            f'{args.src} records no config: normalisation, style and conv '
            'type were not checked'
        )
    print(f'wrote {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
