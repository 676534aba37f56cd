"""A grid of images with ground-truth and predicted boxes side by side,
drawn by mmdet's ``DetLocalVisualizer``."""

import math
import os.path as osp
from typing import List, Optional, Sequence

import mmcv
import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer
from mmengine.dataset import pseudo_collate
from mmengine.model import is_model_wrapper
from mmengine.structures import InstanceData


def ground_truth(dataset, index: int) -> InstanceData:
    """The boxes of image ``index`` as annotated, in original-image pixels
    (``bboxes`` ``(K, 4)`` xyxy float, ``labels`` ``(K,)`` int64), ignored
    instances left out; independent of the dataset's pipeline."""
    instances = [
        inst
        for inst in dataset.get_data_info(index).get('instances', [])
        if not inst.get('ignore_flag', 0)
    ]
    gt = InstanceData()
    gt.bboxes = torch.tensor(
        [inst['bbox'] for inst in instances], dtype=torch.float32
    ).reshape(-1, 4)
    gt.labels = torch.tensor(
        [inst['bbox_label'] for inst in instances], dtype=torch.int64
    )
    return gt


@torch.no_grad()
def predict(model: nn.Module, dataset, indices: Sequence[int]) -> list:
    """``model.test_step`` on ``dataset[i]``, one image at a time.

    Returns:
        list[DetDataSample]: with ``pred_instances`` in original-image
        pixels and ``img_path`` in their metainfo.
    """
    model = model.module if is_model_wrapper(model) else model
    was_training = model.training
    model.eval()
    try:
        return [
            model.test_step(pseudo_collate([dataset[i]]))[0] for i in indices
        ]
    finally:
        model.train(was_training)


def draw_pair(
    visualizer: DetLocalVisualizer,
    image: np.ndarray,
    gt: InstanceData,
    pred: InstanceData,
    score_thr: float,
    scale: float = 1.0,
) -> np.ndarray:
    """``image`` with the ground truth (left) and the predictions scoring
    above ``score_thr`` (right).

    Args:
        image (np.ndarray): ``(H, W, 3)`` RGB uint8.
        gt, pred (InstanceData): boxes in ``image``'s pixels.
        scale (float): draw at this multiple of the image size (labels on
            small images stay legible).

    Returns:
        np.ndarray: ``(H * scale, 2 * W * scale, 3)`` RGB uint8.
    """
    if scale != 1:
        image = mmcv.imrescale(image, scale)
        gt, pred = gt.clone(), pred.clone()
        gt.bboxes = gt.bboxes * scale
        pred.bboxes = pred.bboxes * scale
    sample = DetDataSample()
    sample.gt_instances = gt
    sample.pred_instances = pred
    visualizer.add_datasample(
        'pair',
        image,
        sample,
        draw_gt=True,
        draw_pred=True,
        pred_score_thr=score_thr,
        out_file=None,
    )
    return visualizer.get_image()


def prediction_grid(
    model: nn.Module,
    dataset,
    num_images: int = 8,
    score_thr: float = 0.5,
    columns: int = 2,
    scale: float = 2.0,
    palette: Optional[List[tuple]] = None,
) -> Figure:
    """The first ``num_images`` images of ``dataset`` (a built mmdet
    dataset whose pipeline ends in ``PackDetInputs``), each as a pair:
    ground truth left, ``model``'s predictions with score > ``score_thr``
    right, boxes coloured by class.

    Args:
        palette (list[tuple], optional): RGB colour per class; defaults to
            the dataset's ``palette``.

    Returns:
        Figure: a matplotlib figure (no pyplot state); ``fig.savefig(path)``.
    """
    indices = list(range(min(num_images, len(dataset))))
    if not indices:
        raise ValueError('the dataset is empty')
    samples = predict(model, dataset, indices)
    visualizer = DetLocalVisualizer(name='cpwc_prediction_grid')
    visualizer.dataset_meta = dict(
        classes=dataset.metainfo.get('classes'),
        palette=palette or dataset.metainfo.get('palette'),
    )
    columns = min(columns, len(indices))
    rows = math.ceil(len(indices) / columns)
    fig = Figure(figsize=(6.8 * columns, 3.7 * rows), layout='constrained')
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, index, sample in zip(axes, indices, samples):
        image = mmcv.imread(sample.img_path, channel_order='rgb')
        gt = ground_truth(dataset, index)
        pred = sample.pred_instances.cpu()
        shown = int((pred.scores > score_thr).sum())
        pair = draw_pair(visualizer, image, gt, pred, score_thr, scale)
        ax.imshow(pair)
        ax.axvline(pair.shape[1] / 2 - 0.5, color='white', linewidth=3)
        ax.set_title(
            f'{osp.basename(sample.img_path)}: {len(gt)} objects | '
            f'{shown} detections',
            fontsize='medium',
        )
        ax.set_axis_off()
    for ax in axes[len(indices) :]:
        ax.set_visible(False)
    fig.suptitle(
        'ground truth (left) | predictions with score > '
        f'{score_thr:g} (right)',
        fontsize='large',
    )
    return fig
