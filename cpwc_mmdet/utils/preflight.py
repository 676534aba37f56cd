"""Check a config's inputs before any model or dataset is built.

Each check raises :class:`UserInputError` with one line that says what is
wrong and what to do, instead of a traceback from deep inside mmengine.
"""

import json
import os
from typing import Iterator, Tuple

from mmdet.registry import MODELS
from mmengine.config import Config


class UserInputError(Exception):
    """A problem with the user's config, data or arguments (one line)."""


def _dataset_cfgs(cfg: Config) -> Iterator[Tuple[str, dict]]:
    """(name, dataset cfg) of every dataloader the config defines."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
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
    """Every used dataloader's data_root and COCO annotation file exist."""
    hint = (
        'run `python tools/dataset_converters/make_toy_coco.py` for the '
        'toy set, or set --cfg-options'
    )
    for name, dataset in _dataset_cfgs(cfg):
        if name.split('_')[0] not in splits:
            continue
        root = dataset.get('data_root') or ''
        if root and not os.path.isdir(root):
            raise UserInputError(
                f'{name}: data_root {root!r} does not exist ({hint})'
            )
        ann = dataset.get('ann_file')
        if ann:
            check_coco_file(os.path.join(root, ann), name)


#: keys whose dicts mmdet builds from MODELS (the model's components)
COMPONENT_KEYS = ('backbone', 'neck', 'head', 'data_preprocessor')


def check_model_types(cfg: Config) -> None:
    """The model's ``type`` and its components' (backbones, necks, heads,
    data preprocessor, at any depth) are registered in mmdet's MODELS."""

    def walk(node, where):
        if not isinstance(node, dict):
            return
        kind = node.get('type')
        if isinstance(kind, str) and MODELS.get(kind) is None:
            raise UserInputError(
                f"{where}.type={kind!r} is not registered in mmdet's MODELS "
                f'(a typo, or a missing custom_imports?)'
            )
        for key, value in node.items():
            if key.endswith(COMPONENT_KEYS):
                walk(value, f'{where}.{key}')

    walk(cfg.model, 'model')


def preflight(cfg: Config, splits=('train', 'val', 'test')) -> None:
    """All checks; raises :class:`UserInputError` on the first problem."""
    check_model_types(cfg)
    check_datasets(cfg, splits)
