"""The toy classification set: mmpretrain's ImageNet layout, balanced,
seeded, one shape per image, read by mmpretrain's CustomDataset."""

import os

import cv2
import numpy as np
from mmpretrain.datasets import CustomDataset

from cpwc_mmdet.datasets import make_toy_cls
from cpwc_mmdet.datasets.toy_coco import CLASSES
from tests.helpers import run_tool


def read_lines(path):
    with open(path) as f:
        return [line.split() for line in f.read().splitlines()]


def test_layout_labels_and_mmpretrain_reading(tmp_path):
    train_txt, val_txt = make_toy_cls(
        str(tmp_path), num_train=7, num_val=5, size=24, seed=3
    )
    assert train_txt == str(tmp_path / 'meta' / 'train.txt')
    train, val = read_lines(train_txt), read_lines(val_txt)
    assert [int(label) for _, label in train] == [0, 1, 2, 0, 1, 2, 0]
    assert [name for name, _ in val] == [f'{i:06d}.png' for i in range(1, 6)]
    for name, label in train:  # ImageNet's train layout: a folder per class
        assert name.split('/')[0] == CLASSES[int(label)]
    dataset = CustomDataset(
        data_root=str(tmp_path),
        ann_file='meta/train.txt',
        data_prefix='train',
        metainfo=dict(classes=CLASSES),
        pipeline=[dict(type='LoadImageFromFile')],
    )
    assert len(dataset) == 7
    assert [dataset.get_gt_labels()[i] for i in range(7)] == [
        0,
        1,
        2,
        0,
        1,
        2,
        0,
    ]
    assert dataset[4]['img'].shape == (24, 24, 3)


def test_one_contrasting_shape_per_image(tmp_path):
    make_toy_cls(str(tmp_path), num_train=3, num_val=1, size=32, seed=0)
    for name, _ in read_lines(str(tmp_path / 'meta' / 'train.txt')):
        image = cv2.imread(str(tmp_path / 'train' / name)).astype(int)
        # the shape is one flat colour covering 5-60% of the image (a small
        # triangle to a large circle); the noisy background has no such run
        _, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
        assert 0.05 * 32 * 32 < counts.max() < 0.6 * 32 * 32
        assert np.sort(counts)[-2] < 0.02 * 32 * 32


def test_seeded_and_cli(tmp_path):
    make_toy_cls(str(tmp_path / 'a'), num_train=2, num_val=2, seed=5)
    out = run_tool(
        'tools/dataset_converters/make_toy_cls.py',
        '--out',
        str(tmp_path / 'b'),
        '--train',
        '2',
        '--val',
        '2',
        '--seed',
        '5',
        check=True,
    )
    assert 'meta/val.txt' in out.stdout
    for split, name in (
        ('train', 'circle/circle_000001.png'),
        ('val', '000002.png'),
    ):
        a = cv2.imread(os.path.join(tmp_path, 'a', split, name))
        b = cv2.imread(os.path.join(tmp_path, 'b', split, name))
        np.testing.assert_array_equal(a, b)
    bad = run_tool(
        'tools/dataset_converters/make_toy_cls.py',
        '--out',
        str(tmp_path / 'c'),
        '--size',
        '8',
    )
    assert bad.returncode == 2 and '--size' in bad.stderr
