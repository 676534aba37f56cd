"""Check a config's inputs before any model or dataset is built.

Each check raises :class:`UserInputError` with one line that says what is
wrong and what to do, instead of a traceback from deep inside mmengine.
Detection configs (mmdet, COCO annotation files) and pretraining configs
(mmpretrain, ``meta/*.txt`` lists or CIFAR pickles) alike.
"""

import json
import os
from typing import Iterator, Tuple

from mmengine.config import Config
from mmengine.registry import DefaultScope

from ..utils.errors import UserInputError

#: what to do about missing data, by the config's default scope
DATA_HINTS = {
    'mmdet': 'run `python tools/dataset_converters/make_toy_coco.py` for '
    'the toy set, prepare COCO as mmdet documents, or set --cfg-options',
    'mmpretrain': 'run `python tools/dataset_converters/make_toy_cls.py` '
    'for the toy set, prepare ImageNet / CIFAR-100 as mmpretrain documents, '
    'or set --cfg-options',
}
#: keys whose dicts the registries build as the model's components
COMPONENT_KEYS = ('backbone', 'neck', 'head', 'data_preprocessor')


def scope_of(cfg: Config) -> str:
    """The config's default scope (mmdet when it states none)."""
    return cfg.get('default_scope') or 'mmdet'


def dataset_cfgs(cfg: Config, splits) -> Iterator[Tuple[str, dict]]:
    """(loader name, innermost dataset cfg) of every dataloader of
    ``splits`` (``'train'``, ``'val'``, ``'test'``) the config defines."""
    for split in splits:
        name = f'{split}_dataloader'
        loader = cfg.get(name)
        if loader and loader.get('dataset'):
            dataset = loader['dataset']
            while 'dataset' in dataset:  # wrappers: RepeatDataset, ...
                dataset = dataset['dataset']
            yield name, dataset


def check_coco_file(path: str, what: str) -> None:
    """Raise unless ``path`` is a readable COCO instance annotation file."""
    if not os.path.isfile(path):
        raise UserInputError(f'{what}: annotation file {path} does not exist')
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise UserInputError(f'{what}: {path} is not JSON ({err})') from None
    missing = [
        k
        for k in ('images', 'annotations', 'categories')
        if not isinstance(data, dict) or k not in data
    ]
    if missing:
        raise UserInputError(
            f'{what}: {path} is not a COCO annotation file '
            f'(no {", ".join(missing)})'
        )


def check_datasets(cfg: Config, splits=('train', 'val', 'test')) -> None:
    """Every used dataloader's data root and annotation file exist (a COCO
    ``.json`` must be one)."""
    hint = DATA_HINTS.get(scope_of(cfg), DATA_HINTS['mmdet'])
    for name, dataset in dataset_cfgs(cfg, splits):
        root = dataset.get('data_root') or ''
        if root and not os.path.isdir(root):
            raise UserInputError(
                f'{name}: data_root {root!r} does not exist ({hint})'
            )
        ann = dataset.get('ann_file')
        if not ann:
            continue
        path = os.path.join(dataset.get('data_root') or '', ann)
        if path.endswith('.json'):
            check_coco_file(path, name)
        elif not os.path.isfile(path):
            raise UserInputError(
                f'{name}: annotation file {path} does not exist ({hint})'
            )


def check_model_types(cfg: Config) -> None:
    """The model's ``type`` and its components' (backbones, necks, heads,
    data preprocessor, at any depth) are registered in the MODELS of the
    config's scope (scoped types such as ``mmdet.CPWCResNet`` resolve
    across registries)."""
    scope = scope_of(cfg)
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
    else:
        from mmdet.registry import MODELS

    def walk(node, where):
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, f'{where}[{i}]')
            return
        if not isinstance(node, dict):
            return
        kind = node.get('type')
        if isinstance(kind, str) and MODELS.get(kind) is None:
            raise UserInputError(
                f"{where}.type={kind!r} is not registered in {scope}'s "
                'MODELS (a typo, or a missing custom_imports?)'
            )
        for key, value in node.items():
            if key.endswith(COMPONENT_KEYS):
                walk(value, f'{where}.{key}')

    with DefaultScope.overwrite_default_scope(scope):
        walk(cfg.model, 'model')


def preflight(cfg: Config, splits=('train', 'val', 'test')) -> None:
    """All checks; raises :class:`UserInputError` on the first problem."""
    check_model_types(cfg)
    check_datasets(cfg, splits)
