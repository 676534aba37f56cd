"""The embedded toy COCO set: real COCO files that pycocotools reads."""

import json
import os

import cv2
import numpy as np
from pycocotools.coco import COCO

from cpwc_mmdet.datasets import make_toy_coco, toy_images
from cpwc_mmdet.datasets.toy_coco import CLASSES, make_split


def test_toy_set_is_coco_with_both_mask_encodings(tmp_path):
    train, val = make_toy_coco(
        str(tmp_path), num_train=3, num_val=2, size=64, seed=3
    )
    coco = COCO(val)
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(
        CLASSES
    )
    assert len(coco.getImgIds()) == 2
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns and all(a['area'] > 0 and len(a['bbox']) == 4 for a in anns)
    for img in coco.loadImgs(coco.getImgIds()):
        assert os.path.isfile(
            os.path.join(str(tmp_path), 'val', img['file_name'])
        )
    kinds = {
        type(a['segmentation']).__name__
        for a in COCO(train).loadAnns(COCO(train).getAnnIds())
    }
    assert len(COCO(train).getImgIds()) == 3
    assert kinds <= {'list', 'dict'} and kinds


def test_same_seed_same_set(tmp_path):
    a = make_toy_coco(str(tmp_path / 'a'), 2, 1, 64, seed=5)
    b = make_toy_coco(str(tmp_path / 'b'), 2, 1, 64, seed=5)
    for pa, pb in zip(a, b):
        with open(pa) as fa, open(pb) as fb:
            assert fa.read() == fb.read()


def test_toy_images_are_the_files_pixels(tmp_path):
    """What erf.py --toy reads: the split's first images, made in memory."""
    make_toy_coco(str(tmp_path), num_train=1, num_val=3, size=64, seed=2)
    images = toy_images(2, size=64, seed=2)
    assert len(images) == 2
    for i, image in enumerate(images, 1):
        saved = cv2.imread(str(tmp_path / 'val' / f'{i:06d}.png'))
        assert image.dtype == np.uint8 and image.shape == (64, 64, 3)
        np.testing.assert_array_equal(image, saved)


def test_annotations_replace_a_planted_symlink(tmp_path):
    victim = tmp_path / 'victim.json'
    victim.write_text('precious')
    (tmp_path / 'toy' / 'annotations').mkdir(parents=True)
    planted = tmp_path / 'toy' / 'annotations' / 'instances_val.json'
    os.symlink(victim, planted)
    path = make_split(str(tmp_path / 'toy'), 'val', 2, 64, 0)
    assert path == str(planted) and not planted.is_symlink()
    assert victim.read_text() == 'precious'
    assert json.loads(planted.read_text())['images']
