"""Test processes only: let mmpretrain's CIFAR-100 accept the miniature set.

mmpretrain checks the CIFAR-100 pickles against the real files' md5s. The
end-to-end tests put this folder on ``PYTHONPATH`` and name a miniature
set in ``CPWC_MINIATURE_CIFAR``; when ``mmpretrain.datasets.cifar`` is
imported, ``CIFAR100`` then expects the md5s the maker recorded for that
set (``cpwc_mmdet.datasets.miniature.CIFAR_MD5``). The check itself still
runs, on those files; nothing changes for a process without the variable.
"""

import importlib.abc
import importlib.machinery
import json
import os
import sys

TARGET = 'mmpretrain.datasets.cifar'
ROOT = os.environ.get('CPWC_MINIATURE_CIFAR')


def expect_miniature_md5(module):
    with open(
        os.path.join(ROOT, 'cifar-100-python', 'miniature-md5.json')
    ) as f:
        md5 = json.load(f)
    cifar = module.CIFAR100
    cifar.train_list = [['train', md5['train']]]
    cifar.test_list = [['test', md5['test']]]
    cifar.meta = dict(cifar.meta, md5=md5['meta'])


class MiniatureCifar(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            expect_miniature_md5(module)

        spec.loader.exec_module = exec_module
        return spec


if ROOT:
    sys.meta_path.insert(0, MiniatureCifar())
