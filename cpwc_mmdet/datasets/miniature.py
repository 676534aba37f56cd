"""Miniature COCO 2017, ImageNet and CIFAR-100, laid out as the real sets.

A few images each, drawn like the toy sets (shapes on textured
backgrounds), in the real sets' files and formats, so that the full-size
configs, their mmdet / mmpretrain datasets and evaluators, and
``tools/reproduce.py --data full`` run on them unchanged:

* COCO 2017 (:func:`make_mini_coco`): ``annotations/instances_{train,
  val}2017.json`` with the 80 categories and their real ids, polygon masks,
  ``train2017/`` and ``val2017/`` with COCO's 12-digit JPEG names;
* ImageNet in mmpretrain's layout (:func:`make_mini_imagenet`):
  ``train/<wnid>/<wnid>_<n>.JPEG``, ``val/ILSVRC2012_val_<8 digits>.JPEG``,
  ``meta/{train,val}.txt``, with real wnids and their class indices;
* CIFAR-100 (:func:`make_mini_cifar100`): ``cifar-100-python/{train,test,
  meta}``, the python pickles with the real keys and label names.

mmpretrain checks the CIFAR-100 files' md5 against the real ones; these
are not the real files, so it refuses them, as it should. ``CIFAR_MD5``
names the file in which the maker records their md5s, for a test to hand
to mmpretrain (tests/miniature_site does, in test processes only).

The command line is ``tools/dataset_converters/make_miniature.py``.
"""

import hashlib
import json
import os
import pickle
from typing import Dict, List

import cv2
import numpy as np

from ..utils.atomic_files import atomic_write
from .toy_cls import make_shape_image
from .toy_coco import make_image

#: COCO's 80 category ids, in the order of its category names
COCO_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
    43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
    62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90,
)  # fmt: skip
#: the first ImageNet-1k classes: (wnid, class index)
IMAGENET_WNIDS = ('n01440764', 'n01443537', 'n01484850', 'n01491361')
CIFAR100_COARSE = (
    'aquatic_mammals', 'fish', 'flowers', 'food_containers',
    'fruit_and_vegetables', 'household_electrical_devices',
    'household_furniture', 'insects', 'large_carnivores',
    'large_man-made_outdoor_things', 'large_natural_outdoor_scenes',
    'large_omnivores_and_herbivores', 'medium_mammals',
    'non-insect_invertebrates', 'people', 'reptiles', 'small_mammals',
    'trees', 'vehicles_1', 'vehicles_2',
)  # fmt: skip
#: where make_mini_cifar100 records the md5s of the files it wrote
CIFAR_MD5 = 'miniature-md5.json'


def _write_json(obj, path: str) -> None:
    atomic_write(json.dumps(obj), path)


def coco_categories() -> List[Dict]:
    """COCO 2017's 80 categories: real ids and names (mmdet's)."""
    from mmdet.datasets import CocoDataset

    names = CocoDataset.METAINFO['classes']
    assert len(names) == len(COCO_IDS) == 80
    return [
        dict(id=i, name=n, supercategory='object')
        for i, n in zip(COCO_IDS, names)
    ]


def _coco_split(root, split, num_images, size, seed, first_image_id):
    rng = np.random.default_rng([seed, {'train': 0, 'val': 1}[split]])
    folder = os.path.join(root, f'{split}2017')
    os.makedirs(folder, exist_ok=True)
    categories = coco_categories()
    images, annotations = [], []
    for k in range(num_images):
        image_id = first_image_id + k
        image, anns = make_image(
            rng, size, image_id, len(annotations) + 1, polygons=True
        )
        file_name = f'{image_id:012d}.jpg'
        cv2.imwrite(os.path.join(folder, file_name), image)
        images.append(
            dict(id=image_id, file_name=file_name, width=size, height=size)
        )
        for ann in anns:
            ann['category_id'] = categories[
                int(rng.integers(len(categories)))
            ]['id']
        annotations.extend(anns)
    coco = dict(
        info=dict(description=f'cpwc_mmdet miniature COCO 2017 ({split})'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=categories,
    )
    path = os.path.join(root, 'annotations', f'instances_{split}2017.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _write_json(coco, path)
    return path


def make_mini_coco(root: str, num_train=4, num_val=2, size=160, seed=0):
    """COCO 2017's layout under ``root``; the two annotation files."""
    return [
        _coco_split(root, 'train', num_train, size, seed, 1),
        _coco_split(root, 'val', num_val, size, seed, 100000),
    ]


def make_mini_imagenet(root: str, per_class=1, num_val=4, size=64, seed=0):
    """ImageNet's mmpretrain layout under ``root`` (``per_class`` training
    images for each of :data:`IMAGENET_WNIDS`); the two list files."""
    rng = np.random.default_rng(seed)
    lines = {'train': [], 'val': []}
    for label, wnid in enumerate(IMAGENET_WNIDS):
        os.makedirs(os.path.join(root, 'train', wnid), exist_ok=True)
        for k in range(per_class):
            name = f'{wnid}/{wnid}_{k + 1}.JPEG'
            image = make_shape_image(rng, size, label % 3)
            cv2.imwrite(os.path.join(root, 'train', name), image)
            lines['train'].append(f'{name} {label}')
    os.makedirs(os.path.join(root, 'val'), exist_ok=True)
    for k in range(num_val):
        label = k % len(IMAGENET_WNIDS)
        name = f'ILSVRC2012_val_{k + 1:08d}.JPEG'
        image = make_shape_image(rng, size, label % 3)
        cv2.imwrite(os.path.join(root, 'val', name), image)
        lines['val'].append(f'{name} {label}')
    paths = []
    for split, split_lines in lines.items():
        path = os.path.join(root, 'meta', f'{split}.txt')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write('\n'.join(split_lines) + '\n', path)
        paths.append(path)
    return paths


def _md5(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.md5(f.read()).hexdigest()


def make_mini_cifar100(root: str, num_train=8, num_test=4, seed=0):
    """CIFAR-100's python pickles under ``root/cifar-100-python``; their
    md5s go to :data:`CIFAR_MD5` beside them."""
    from mmpretrain.datasets.categories import CIFAR100_CATEGORIES

    rng = np.random.default_rng(seed)
    folder = os.path.join(root, 'cifar-100-python')
    os.makedirs(folder, exist_ok=True)
    md5 = {}
    for split, count in (('train', num_train), ('test', num_test)):
        fine = [int(k % 100) for k in range(count)]
        images = np.stack(
            [make_shape_image(rng, 32, label % 3) for label in fine]
        )  # (N, 32, 32, 3) HWC -> CIFAR's rows of 3072, channel-major
        entry = dict(
            filenames=[f'mini_{split}_{k}.png' for k in range(count)],
            batch_label=f'{split}ing batch 1 of 1',
            fine_labels=fine,
            coarse_labels=[label % 20 for label in fine],
            data=images.transpose(0, 3, 1, 2).reshape(count, -1),
        )
        path = os.path.join(folder, split)
        atomic_write(pickle.dumps(entry), path)
        md5[split] = _md5(path)
    meta = os.path.join(folder, 'meta')
    atomic_write(
        pickle.dumps(
            dict(
                fine_label_names=list(CIFAR100_CATEGORIES),
                coarse_label_names=list(CIFAR100_COARSE),
            )
        ),
        meta,
    )
    md5['meta'] = _md5(meta)
    _write_json(md5, os.path.join(folder, CIFAR_MD5))
    return folder
