"""The embedded toy set: a small, seeded COCO-format instance set.

Three shape classes (circle, square, triangle) of random colour and size on
textured backgrounds; every object has a box and a mask (polygons for squares
and triangles, compressed RLE for circles, so both of COCO's mask encodings go
through mmdet's real loading code). Objects never overlap, so each mask is
exactly its shape.

:func:`make_toy_coco` writes ``OUT/{train,val}/*.png`` and
``OUT/annotations/instances_{train,val}.json``; the command line is
``tools/dataset_converters/make_toy_coco.py``. :func:`toy_images` gives a
split's first images without writing them.
"""

import json
import math
import os

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ..utils.atomic_files import atomic_write

CLASSES = ('circle', 'square', 'triangle')


def textured_background(rng, size):
    """Smooth colour noise plus faint stripes, ``(size, size, 3)`` uint8."""
    coarse = rng.uniform(80, 180, size=(6, 6, 3)).astype(np.float32)
    image = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[:size, :size]
    angle = rng.uniform(0, math.pi)
    stripes = 8 * np.sin(
        (xx * math.cos(angle) + yy * math.sin(angle)) / rng.uniform(3, 8)
    )
    image += stripes[..., None] + rng.normal(0, 6, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def contrasting_colour(rng, background):
    """A random colour at least 150 (L1) away from ``background``."""
    while True:
        colour = rng.integers(0, 256, size=3)
        if np.abs(colour.astype(int) - background.astype(int)).sum() >= 150:
            return [int(c) for c in colour]


def shape_polygon(kind, cx, cy, r, angle):
    """Vertices ``(n, 2)`` of a shape centred at (cx, cy) with radius r."""
    n = {'circle': 48, 'square': 4, 'triangle': 3}[kind]
    t = angle + np.arange(n) * 2 * math.pi / n
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def place_objects(rng, size, max_objects):
    """Non-overlapping (cx, cy, r) circles that bound the shapes."""
    placed = []
    for _ in range(max_objects * 20):
        if len(placed) == max_objects:
            break
        r = rng.uniform(size * 0.11, size * 0.24)
        cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
        if all(math.hypot(cx - x, cy - y) > r + q + 2 for x, y, q in placed):
            placed.append((cx, cy, r))
    return placed


def make_image(rng, size, image_id, first_ann_id, polygons=False):
    """One image and its annotations (COCO dicts); circles' masks as RLE
    unless ``polygons``."""
    image = textured_background(rng, size)
    anns = []
    for cx, cy, r in place_objects(rng, size, int(rng.integers(1, 5))):
        label = int(rng.integers(len(CLASSES)))
        kind = CLASSES[label]
        poly = shape_polygon(kind, cx, cy, r, rng.uniform(0, 2 * math.pi))
        colour = contrasting_colour(rng, image[int(cy), int(cx)])
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        image[mask.astype(bool)] = colour
        ys, xs = np.nonzero(mask)
        x0, y0 = float(xs.min()), float(ys.min())
        bbox = [x0, y0, float(xs.max()) + 1 - x0, float(ys.max()) + 1 - y0]
        if kind == 'circle' and not polygons:
            rle = mask_utils.encode(np.asfortranarray(mask))
            segmentation = dict(
                size=rle['size'], counts=rle['counts'].decode('ascii')
            )
        else:
            segmentation = [np.round(poly, 2).reshape(-1).tolist()]
        anns.append(
            dict(
                id=first_ann_id + len(anns),
                image_id=image_id,
                category_id=label + 1,
                bbox=bbox,
                area=float(mask.sum()),
                segmentation=segmentation,
                iscrowd=0,
            )
        )
    return image, anns


def make_split(out_dir, split, num_images, size, seed):
    """Write one split's images and annotation file; return its path."""
    rng = np.random.default_rng([seed, {'train': 0, 'val': 1}[split]])
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    os.makedirs(os.path.join(out_dir, 'annotations'), exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        image, anns = make_image(rng, size, image_id, len(annotations) + 1)
        file_name = f'{image_id:06d}.png'
        cv2.imwrite(os.path.join(out_dir, split, file_name), image)
        images.append(
            dict(id=image_id, file_name=file_name, width=size, height=size)
        )
        annotations.extend(anns)
    coco = dict(
        info=dict(description=f'cpwc_mmdet toy set ({split}, seed {seed})'),
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=n, supercategory='shape')
            for i, n in enumerate(CLASSES)
        ],
    )
    path = os.path.join(out_dir, 'annotations', f'instances_{split}.json')
    # never a half-written annotation file, never through a planted link
    atomic_write(json.dumps(coco), path)
    return path


def toy_images(num_images=16, size=160, seed=0, split='val'):
    """The first ``num_images`` images of a toy split, made in memory: the
    pixels :func:`make_toy_coco` writes to ``OUT/{split}/*.png``.

    Returns:
        list[np.ndarray]: ``(size, size, 3)`` uint8 arrays, BGR as
        ``cv2.imread`` gives them.
    """
    rng = np.random.default_rng([seed, {'train': 0, 'val': 1}[split]])
    images, num_anns = [], 0
    for image_id in range(1, num_images + 1):
        image, anns = make_image(rng, size, image_id, num_anns + 1)
        images.append(image)
        num_anns += len(anns)
    return images


def make_toy_coco(
    out_dir='data/toy_coco', num_train=256, num_val=64, size=160, seed=0
):
    """Write the toy set (both splits) under ``out_dir``."""
    return [
        make_split(out_dir, 'train', num_train, size, seed),
        make_split(out_dir, 'val', num_val, size, seed),
    ]
