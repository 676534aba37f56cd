"""Caffe-style ResNet checkpoint key names, renamed to mmdet's.

mmdet's ``ResNet`` already uses torchvision's names (``layer1.0.conv1``).
Two other families of plain ResNet checkpoints are common:

* MSRA Caffe (the original ResNet release, as converted to a state dict):
  ``conv1``, ``bn_conv1`` / ``scale_conv1``, ``res2a_branch2a``,
  ``bn2a_branch2a`` / ``scale2a_branch2a``, ``res2a_branch1``; blocks are
  lettered (``res3d``) or, in ResNet-101/152, ``a, b1, b2, ...``.
* Detectron (Caffe2): ``conv1_w``, ``res_conv1_bn_s`` / ``_b``,
  ``res2_0_branch2a_w``, ``res2_0_branch2a_bn_s`` / ``_b``,
  ``res2_0_branch1_w``. Its BN is a frozen affine ("AffineChannel"), loaded
  as BN with running mean 0 and variance 1, as mmdet's own converter does.

``rename_caffe_resnet_keys`` rewrites such keys in place; ``CPWCResNet`` and
``CoCResNet`` call it when loading, so ``init_cfg=dict(type='Pretrained')``,
``load_from`` and ``inflate_checkpoint.py`` take these files directly.
"""

import re
from typing import Dict, Optional, Tuple

import torch

_MSRA_BLOCK = re.compile(
    r'^(res|bn|scale)(\d)([a-z])(\d*)_branch(1|2a|2b|2c)\.(\w+)$'
)
_MSRA_STEM = {'conv1': 'conv1', 'bn_conv1': 'bn1', 'scale_conv1': 'bn1'}
_DETECTRON_BLOCK = re.compile(
    r'^res(\d)_(\d+)_branch(1|2a|2b|2c)(_bn)?_([wsb])$'
)
_DETECTRON_STEM = {
    'conv1_w': 'conv1.weight',
    'res_conv1_bn_s': 'bn1.weight',
    'res_conv1_bn_b': 'bn1.bias',
}
_BRANCH = {
    '2a': ('conv1', 'bn1'),
    '2b': ('conv2', 'bn2'),
    '2c': ('conv3', 'bn3'),
    '1': ('downsample.0', 'downsample.1'),
}
_DROPPED = re.compile(r'^(fc1000|pred)([._]\w+)?$')


def _msra_name(key: str) -> Optional[str]:
    head, _, param = key.partition('.')
    if head in _MSRA_STEM and param:
        return f'{_MSRA_STEM[head]}.{param}'
    match = _MSRA_BLOCK.match(key)
    if match is None:
        return None
    kind, stage, letter, number, branch, param = match.groups()
    block = int(number) if number else ord(letter) - ord('a')
    conv, norm = _BRANCH[branch]
    return f'layer{int(stage) - 1}.{block}.' + (
        f'{conv}.{param}' if kind == 'res' else f'{norm}.{param}'
    )


def _detectron_name(key: str) -> Tuple[Optional[str], bool]:
    """(mmdet name or None, whether it is a norm's parameter)."""
    if key in _DETECTRON_STEM:
        name = _DETECTRON_STEM[key]
        return name, name.startswith('bn1.')
    match = _DETECTRON_BLOCK.match(key)
    if match is None:
        return None, False
    stage, block, branch, is_norm, param = match.groups()
    conv, norm = _BRANCH[branch]
    name = f'layer{int(stage) - 1}.{block}.'
    if is_norm:
        return name + f'{norm}.' + {'s': 'weight', 'b': 'bias'}[param], True
    return (name + f'{conv}.weight' if param == 'w' else None), False


def rename_caffe_resnet_keys(
    state_dict: Dict[str, torch.Tensor], prefix: str = ''
) -> int:
    """Rename MSRA / Detectron ResNet keys under ``prefix`` to mmdet's, in
    place; drop their classifier. Keys that are neither are left alone.

    Args:
        state_dict (dict): a state dict (modified in place).
        prefix (str): the backbone's prefix in it, e.g. ``'backbone.'``.

    Returns:
        int: how many keys were renamed.
    """
    renamed = 0
    affine_norms = set()
    for key in [k for k in state_dict if k.startswith(prefix)]:
        local = key[len(prefix) :]
        if _DROPPED.match(local):
            del state_dict[key]
            continue
        name = _msra_name(local)
        if name is None:
            name, is_norm = _detectron_name(local)
            if is_norm:
                affine_norms.add(name.rsplit('.', 1)[0])
        if name is None or name == local:
            continue
        if prefix + name in state_dict:
            raise KeyError(
                f'{key} and {prefix + name} both present: the '
                f'checkpoint mixes caffe and mmdet key names'
            )
        state_dict[prefix + name] = state_dict.pop(key)
        renamed += 1
    for norm in affine_norms:  # Detectron's frozen affine: mean 0, var 1
        weight = state_dict[f'{prefix}{norm}.weight']
        state_dict.setdefault(
            f'{prefix}{norm}.running_mean', torch.zeros_like(weight)
        )
        state_dict.setdefault(
            f'{prefix}{norm}.running_var', torch.ones_like(weight)
        )
    return renamed


class CaffeResNetKeysMixin:
    """Loading accepts MSRA / Detectron key names (see module docstring)."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        rename_caffe_resnet_keys(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
