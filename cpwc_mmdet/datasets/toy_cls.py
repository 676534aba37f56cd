"""The toy classification set: one toy shape per image, for pretraining.

The shapes, colours and backgrounds of the toy detection set
(:mod:`cpwc_mmdet.datasets.toy_coco`), one centred-ish object per square
image, labelled by its class. A backbone pretrained on it has seen the
objects the toy detectors look for: the toy stand-in for ImageNet.

The files follow mmpretrain's ImageNet layout, read by its
``CustomDataset``::

    OUT/train/<class>/<class>_000001.png   OUT/meta/train.txt
    OUT/val/000001.png                     OUT/meta/val.txt

Each annotation line is ``<path relative to the split folder> <label>``.
The command line is ``tools/dataset_converters/make_toy_cls.py``.
"""

import math
import os
from typing import List

import cv2
import numpy as np

from ..utils.atomic_files import atomic_write
from .toy_coco import (
    CLASSES,
    contrasting_colour,
    shape_polygon,
    textured_background,
)


def make_shape_image(
    rng: np.random.Generator, size: int, label: int
) -> np.ndarray:
    """One ``(size, size, 3)`` uint8 image holding one shape of class
    ``label``, 44-84% of the image wide, anywhere it fits."""
    image = textured_background(rng, size)
    radius = rng.uniform(0.22, 0.42) * size
    cx, cy = rng.uniform(radius + 1, size - radius - 1, size=2)
    poly = shape_polygon(
        CLASSES[label], cx, cy, radius, rng.uniform(0, 2 * math.pi)
    )
    colour = contrasting_colour(rng, image[int(cy), int(cx)])
    cv2.fillPoly(image, [np.round(poly).astype(np.int32)], colour)
    return image


def _write_lines(path: str, lines: List[str]) -> None:
    # never a half-written annotation file, never through a planted link
    atomic_write(''.join(line + '\n' for line in lines), path)


def make_split(
    out_dir: str, split: str, num_images: int, size: int, seed: int
) -> str:
    """Write one split's images and ``meta/<split>.txt``; return its path.

    Labels cycle over the classes, so a split is balanced (to within one
    image). ``train`` images go to one folder per class, ``val`` images to
    one flat folder, as in ImageNet.
    """
    rng = np.random.default_rng([seed, {'train': 0, 'val': 1}[split]])
    os.makedirs(os.path.join(out_dir, 'meta'), exist_ok=True)
    lines = []
    for index in range(1, num_images + 1):
        label = (index - 1) % len(CLASSES)
        if split == 'train':
            name = f'{CLASSES[label]}/{CLASSES[label]}_{index:06d}.png'
        else:
            name = f'{index:06d}.png'
        path = os.path.join(out_dir, split, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imwrite(path, make_shape_image(rng, size, label))
        lines.append(f'{name} {label}')
    ann_file = os.path.join(out_dir, 'meta', f'{split}.txt')
    _write_lines(ann_file, lines)
    return ann_file


def make_toy_cls(
    out_dir: str = 'data/toy_cls',
    num_train: int = 600,
    num_val: int = 150,
    size: int = 32,
    seed: int = 0,
) -> List[str]:
    """Write the toy classification set (both splits) under ``out_dir``.

    Returns:
        list[str]: the paths of ``meta/train.txt`` and ``meta/val.txt``.
    """
    return [
        make_split(out_dir, 'train', num_train, size, seed),
        make_split(out_dir, 'val', num_val, size, seed),
    ]
