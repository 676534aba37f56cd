import json
import os

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet.registry import DATASETS
from mmdet.visualization import DetLocalVisualizer
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from cpwc_mmdet.visualization import (
    draw_pair,
    ground_truth,
    predict,
    prediction_grid,
)
from tests.helpers import ROOT

TOY_CONFIG = os.path.join(ROOT, 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py')


@pytest.fixture(scope='module')
def val_set(toy_root):
    init_default_scope('mmdet')
    cfg = Config.fromfile(TOY_CONFIG).val_dataloader.dataset
    cfg.data_root = toy_root
    return DATASETS.build(cfg)


class EchoDetector(nn.Module):
    """Predicts each image's ground truth with score 0.9, plus one extra
    box with score 0.1 (below the threshold the tests use)."""

    def test_step(self, data):
        samples = data['data_samples']
        for sample in samples:
            gt = sample.gt_instances
            boxes = getattr(gt.bboxes, 'tensor', gt.bboxes)  # HorizontalBoxes
            pred = InstanceData()
            pred.bboxes = torch.cat([boxes, torch.tensor([[1.0, 1, 9, 9]])])
            pred.labels = torch.cat([gt.labels, torch.tensor([0])])
            pred.scores = torch.tensor([0.9] * len(gt) + [0.1])
            sample.pred_instances = pred
        return samples


def instances(boxes, labels, scores=None):
    out = InstanceData()
    out.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    out.labels = torch.tensor(labels, dtype=torch.int64)
    if scores is not None:
        out.scores = torch.tensor(scores, dtype=torch.float32)
    return out


def test_ground_truth_is_the_annotation_file(val_set, toy_root):
    with open(os.path.join(toy_root, 'annotations/instances_val.json')) as f:
        coco = json.load(f)
    image = coco['images'][0]
    anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
    gt = ground_truth(val_set, 0)
    assert val_set.get_data_info(0)['img_id'] == image['id']
    expected = [[x, y, x + w, y + h] for x, y, w, h in
                (a['bbox'] for a in anns)]  # fmt: skip
    torch.testing.assert_close(gt.bboxes, torch.tensor(expected).float())
    assert len(gt.labels) == len(anns) > 0


def test_draw_pair_puts_gt_left_and_confident_predictions_right():
    image = np.full((40, 50, 3), 128, np.uint8)
    gt = instances([[5, 5, 20, 20]], [0])
    pred = instances([[25, 20, 45, 35], [5, 5, 20, 20]], [1, 2], [0.8, 0.2])
    visualizer = DetLocalVisualizer(name='test_draw_pair')
    visualizer.dataset_meta = dict(classes=('a', 'b', 'c'),
                                   palette=[(255, 0, 0), (0, 255, 0),
                                            (0, 0, 255)])  # fmt: skip
    drawn = draw_pair(visualizer, image, gt, pred, score_thr=0.5, scale=2)
    assert drawn.shape == (80, 200, 3) and drawn.dtype == np.uint8
    left, right = drawn[:, :100], drawn[:, 100:]

    def changed(half, x, y):  # a pixel on a box edge, in drawn pixels
        return not np.array_equal(half[y, x], [128, 128, 128])

    assert changed(left, 10, 25)  # the gt box's left edge (x = 5 * 2)
    assert not changed(left, 50, 55)  # where only a prediction is
    assert changed(right, 50, 55)  # the 0.8 prediction's left edge
    assert not changed(right, 10, 25)  # the 0.2 prediction is not drawn


def test_prediction_grid_shows_each_image_with_its_counts(val_set):
    model = EchoDetector().train()
    fig = prediction_grid(model, val_set, num_images=3, score_thr=0.5,
                          columns=2)  # fmt: skip
    assert model.training  # predict() restores the mode
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 3
    for index, ax in enumerate(shown):
        count = len(ground_truth(val_set, index))
        name = os.path.basename(val_set.get_data_info(index)['img_path'])
        assert (
            ax.get_title() == f'{name}: {count} objects | {count} detections'
        )
        height, width = ax.images[0].get_array().shape[:2]
        assert (height, width) == (320, 640)  # 160x160 pairs, drawn at 2x
    assert 'score > 0.5' in fig.get_suptitle()


def test_predict_runs_one_image_at_a_time(val_set):
    samples = predict(EchoDetector(), val_set, [2, 0])
    assert [s.img_id for s in samples] == [
        val_set.get_data_info(2)['img_id'],
        val_set.get_data_info(0)['img_id'],
    ]
