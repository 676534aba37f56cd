"""Check a config's inputs before any model or dataset is built.

Each check raises :class:`UserInputError` with one line that says what is
wrong and what to do, instead of a traceback from deep inside mmengine.
Detection configs (mmdet, COCO annotation files) and pretraining configs
(mmpretrain, ``meta/*.txt`` lists or CIFAR pickles) alike.
"""

import json
import os
import time
from typing import Iterator, List, Tuple

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


def _image_prefix(dataset: dict) -> str:
    prefix = dataset.get('data_prefix') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('img') or prefix.get('img_path') or ''
    return os.path.join(dataset.get('data_root') or '', prefix)


def _annotation(dataset: dict):
    """(annotation file, image prefix) of a dataset cfg, mmpretrain's
    ``split=`` form included; None when it names no image files."""
    ann = dataset.get('ann_file')
    root = dataset.get('data_root') or ''
    split = dataset.get('split')
    if not ann and split and str(dataset.get('type', '')).endswith('ImageNet'):
        ann = os.path.join('meta', f'{split}.txt')
        if not dataset.get('data_prefix'):
            dataset = dict(dataset, data_prefix=split)
    if not ann:
        return None
    path = os.path.join(root, ann)
    return (path, _image_prefix(dataset)) if os.path.isfile(path) else None


def image_files(dataset: dict) -> List[str]:
    """Every image file a dataset cfg's annotation file names: a COCO
    JSON's ``images[].file_name`` or the first column of an mmpretrain
    list (``meta/*.txt``), under the data root and image prefix."""
    found = _annotation(dataset)
    if found is None:
        return []
    path, prefix = found
    if path.endswith('.json'):
        with open(path) as f:
            images = json.load(f).get('images', [])
        return [os.path.join(prefix, im['file_name']) for im in images]
    with open(path) as f:
        return [
            os.path.join(prefix, line.split()[0]) for line in f if line.strip()
        ]


def check_images(cfg: Config, splits) -> int:
    """Every image the used annotation files name exists; their count."""
    count = 0
    for name, dataset in dataset_cfgs(cfg, splits):
        files = image_files(dataset)
        missing = [f for f in files if not os.path.isfile(f)]
        if missing:
            raise UserInputError(
                f'{name}: {len(missing):,} of the {len(files):,} images its '
                f'annotation file names are missing, e.g. {missing[0]}'
            )
        count += len(files)
    return count


def check_evaluators(cfg: Config, splits) -> None:
    """The evaluators' annotation files (COCO's ``ann_file``) exist."""
    for split in splits:
        name = f'{split}_evaluator'
        evaluators = cfg.get(name) or []
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        for evaluator in evaluators:
            ann = evaluator.get('ann_file') if evaluator else None
            if ann and '://' not in ann and not os.path.isfile(ann):
                raise UserInputError(
                    f'{name}.ann_file {ann} does not exist (set '
                    f'--cfg-options {name}.ann_file=PATH)'
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
    """All checks; raises :class:`UserInputError` on the first problem.
    Says how many images it found, and how long that took."""
    check_model_types(cfg)
    check_datasets(cfg, splits)
    check_evaluators(cfg, [s for s in splits if s != 'train'])
    start = time.perf_counter()
    count = check_images(cfg, splits)
    if count and os.environ.get('RANK', '0') == '0':
        print(
            f'preflight: the {count:,} images the annotation files name '
            f'exist ({time.perf_counter() - start:.1f} s)',
            flush=True,
        )
