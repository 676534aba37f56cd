"""A tiny toy COCO set shared by the tests that train (made once per run)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tools', 'dataset_converters'))
from make_toy_coco import make_toy_coco  # noqa: E402


def tiny_toy_set(directory, num_train=8, num_val=4):
    """Make (once) a tiny toy set under ``directory``; return its root."""
    root = os.path.join(str(directory), 'toy_coco')
    if not os.path.isfile(os.path.join(root, 'annotations',
                                       'instances_val.json')):
        make_toy_coco(root, num_train=num_train, num_val=num_val, seed=1)
    return root + '/'


def toy_overrides(data_root, work_dir, max_iters=2):
    """cfg overrides that point a toy config at ``data_root`` and shorten it."""
    return {
        'work_dir': str(work_dir),
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.dataset.data_root': data_root,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.dataset.data_root': data_root,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'val_evaluator.ann_file': data_root + 'annotations/instances_val.json',
        'test_evaluator.ann_file':
        data_root + 'annotations/instances_val.json',
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': max_iters,
        'default_hooks.checkpoint.interval': max_iters,
        'default_hooks.logger.interval': 1,
    }
