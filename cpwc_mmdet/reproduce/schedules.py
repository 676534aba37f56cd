"""What ``--data`` and ``--schedule`` change in a row's configs.

Full data runs each config as it is (the papers' recipes), pointed at the
data roots and given the seed. Toy data runs the toy counterparts on the
embedded toy sets, made on demand in the work dir, with CPU-sized
iteration schedules:

* ``toy``: ``cpwc-table3 --data toy`` takes about 5-8 minutes per seed on
  two CPU cores and reaches a non-trivial AP;
* ``smoke``: a few iterations on a tiny set, for tests and CI (the
  pipeline works end to end; its numbers mean nothing).

Toy runs are deterministic (``randomness.deterministic=True``), so a
killed and resumed run gives the same table as an uninterrupted one.
"""

import os
from typing import Dict, NamedTuple

from mmengine.config import Config


class Schedule(NamedTuple):
    """A CPU schedule for the toy pipeline.

    Attributes:
        coco_images (tuple): (train, val) images of the toy COCO set.
        cls_images (tuple): (train, val) images of the toy classification
            set.
        pretrain_iters (int): pretraining iterations.
        pretrain_batch (int): pretraining batch size.
        detect_iters (int): detection training iterations.
        detect_batch (int): detection batch size.
        warmup (int): linear warm-up iterations (both trainings).
        checkpoint_every (int): checkpoint interval, in iterations.
        workers (int): dataloader workers; at least 1, so a resumed run
            repeats the augmentation of an uninterrupted one.
    """

    coco_images: tuple
    cls_images: tuple
    pretrain_iters: int
    pretrain_batch: int
    detect_iters: int
    detect_batch: int
    warmup: int
    checkpoint_every: int
    workers: int = 1


SCHEDULES = {
    'toy': Schedule(
        coco_images=(256, 64),
        cls_images=(600, 150),
        pretrain_iters=100,
        pretrain_batch=16,
        detect_iters=300,
        detect_batch=4,
        warmup=20,
        checkpoint_every=100,
    ),
    'smoke': Schedule(
        coco_images=(8, 4),
        cls_images=(12, 6),
        pretrain_iters=2,
        pretrain_batch=4,
        detect_iters=4,
        detect_batch=2,
        warmup=2,
        checkpoint_every=2,
    ),
}

#: the default data roots of the full-data configs, by dataset
DATA_ROOTS = {
    'coco': 'data/coco',
    'imagenet': 'data/imagenet',
    'cifar': 'data/cifar100',
}

#: the toy classification set's data and schedule (repository path)
TOY_CLS_BASE = 'configs/toy/_base_/toy_cls.py'

#: the COCO annotation file the detection configs evaluate on
COCO_VAL = 'annotations/instances_val2017.json'


def _root(path: str) -> str:
    return path.rstrip('/') + '/'


def _loaders(root: str, splits=('train', 'val', 'test')) -> Dict:
    return {f'{s}_dataloader.dataset.data_root': _root(root) for s in splits}


def _no_validation() -> Dict:
    """Training without its own validation: the evaluate stage scores the
    final checkpoint (mmengine needs the three keys None together)."""
    return {'val_dataloader': None, 'val_cfg': None, 'val_evaluator': None}


def _iterations(iters: int, warmup: int, every: int, batch: int) -> Dict:
    """An iteration schedule in the toy configs' shape (linear warm-up,
    then cosine decay: ``param_scheduler`` entries 0 and 1); the warm-up
    ends before the last iteration."""
    warmup = max(1, min(warmup, iters - 1))
    return {
        'train_cfg.max_iters': iters,
        'train_cfg.val_interval': iters,
        'param_scheduler.0.end': warmup,
        'param_scheduler.1.begin': warmup,
        'param_scheduler.1.end': iters,
        'default_hooks.checkpoint.interval': every,
        'default_hooks.checkpoint.max_keep_ckpts': 2,
        'default_hooks.logger.interval': min(20, every),
        'train_dataloader.batch_size': batch,
    }


def _seeded(seed: int, deterministic: bool) -> Dict:
    options = {'randomness.seed': seed}
    if deterministic:
        options['randomness.deterministic'] = True
    return options


def _workers(count: int, splits) -> Dict:
    options = {}
    for split in splits:
        options[f'{split}_dataloader.num_workers'] = count
        options[f'{split}_dataloader.persistent_workers'] = count > 0
    return options


def pretrain_options(data: str, schedule: str, root: str, seed: int) -> Dict:
    """``--cfg-options`` of a pretraining run.

    Args:
        data (str): ``'full'`` or ``'toy'``.
        schedule (str): a key of :data:`SCHEDULES` (toy data only).
        root (str): the dataset's root (ImageNet / CIFAR-100 or the toy
            classification set).
        seed (int): the run's seed.
    """
    if data == 'full':
        return {**_loaders(root), **_seeded(seed, False)}
    s = SCHEDULES[schedule]
    return {
        **_loaders(root, ('train',)),
        **_no_validation(),
        **_iterations(
            s.pretrain_iters, s.warmup, s.checkpoint_every, s.pretrain_batch
        ),
        **_workers(s.workers, ('train',)),
        **_seeded(seed, True),
    }


def classifier_test_options(data: str, root: str) -> Dict:
    """``--cfg-options`` of a classifier's evaluation (``--test``)."""
    options = _loaders(root, ('test',))
    if data == 'toy':
        options.update(_workers(1, ('test',)))
    return options


def detect_options(data: str, schedule: str, root: str, seed: int) -> Dict:
    """``--cfg-options`` of a detection training run (see
    :func:`pretrain_options`; ``root`` is COCO's or the toy COCO set's)."""
    if data == 'full':
        return {
            **_loaders(root),
            'val_evaluator.ann_file': _root(root) + COCO_VAL,
            **_seeded(seed, False),
        }
    s = SCHEDULES[schedule]
    return {
        **_loaders(root, ('train',)),
        **_no_validation(),
        **_iterations(
            s.detect_iters, s.warmup, s.checkpoint_every, s.detect_batch
        ),
        **_workers(s.workers, ('train',)),
        **_seeded(seed, True),
    }


def detector_test_options(data: str, root: str) -> Dict:
    """``--cfg-options`` of a detector's COCO evaluation (tools/test.py)."""
    ann = 'annotations/instances_val.json' if data == 'toy' else COCO_VAL
    options = {
        **_loaders(root, ('test',)),
        'test_evaluator.ann_file': _root(root) + ann,
    }
    if data == 'toy':
        options.update(_workers(1, ('test',)))
    return options


def init_options(prefixes, checkpoint: str, det_config: str) -> Dict:
    """``--cfg-options`` that load the bridged ``checkpoint`` into each
    detector module of ``prefixes`` (``init_cfg`` Pretrained with the
    module's key prefix). A module whose config has an ``init_cfg`` (a
    dict or None) gets it replaced (``_delete_``); mmengine keeps that key
    only where the config has one."""
    cfg = Config.fromfile(det_config) if os.path.isfile(det_config) else None
    options = {}
    for prefix in prefixes:
        key = f'model.{prefix}.init_cfg'
        module = cfg.model if cfg else None
        for part in prefix.split('.'):
            module = module.get(part) if isinstance(module, dict) else None
        if module is None or 'init_cfg' in module:
            options[f'{key}._delete_'] = True
        options[f'{key}.type'] = 'Pretrained'
        options[f'{key}.checkpoint'] = checkpoint
        options[f'{key}.prefix'] = prefix + '.'
    return options


def _plain(value):
    """A config value as plain dicts, lists and scalars (for ``repr``)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def toy_classifier_config(
    row_config: str, data_root: str, toy_base: str
) -> str:
    """A config (text) that trains ``row_config``'s classifier on the toy
    classification set: its model, with the toy set's data, three classes
    and the toy CPU schedule of ``toy_base`` (:data:`TOY_CLS_BASE`) in
    place of its dataset and recipe. Used by Tables 1, 2 and 4 on toy
    data."""
    toy = Config.fromfile(toy_base)
    lines = [
        '# Generated by tools/reproduce.py: the row config on the toy set.',
        f'_base_ = {os.path.abspath(row_config)!r}',
    ]
    for key in (
        'train_dataloader',
        'val_dataloader',
        'test_dataloader',
        'val_evaluator',
        'test_evaluator',
        'train_cfg',
        'optim_wrapper',
    ):
        value = _plain(toy[key])
        if key.endswith('_dataloader'):
            value['dataset']['data_root'] = _root(data_root)
        lines.append(f'{key} = {dict(_delete_=True, **value)!r}')
    lines += [
        f'log_processor = {_plain(toy.log_processor)!r}',
        f'param_scheduler = {_plain(toy.param_scheduler)!r}',
        'default_hooks = dict(checkpoint=dict(_delete_=True, '
        f'**{_plain(toy.default_hooks.checkpoint)!r}))',
        'data_preprocessor = dict(num_classes=3)',
        'model = dict(head=dict(num_classes=3, topk=(1,)))',
    ]
    return '\n'.join(lines) + '\n'
