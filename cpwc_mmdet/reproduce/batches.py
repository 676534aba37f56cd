"""Each training keeps its recipe's total batch, whatever the process count.

A config's recipe batch is ``auto_scale_lr.base_batch_size`` (the N x M of
its ``NxbM`` name: RetinaNet's and Mask R-CNN's 8 x 2 = 16, Table 3's
8 x 3 = 24). On full data a stage that runs on ``P`` processes (GPUs per
node x nodes: the launchers start ``--gpus`` processes on each of
``NNODES`` nodes) gets ``train_dataloader.batch_size = recipe / P``, so
that the learning rate of the recipe applies unchanged; when ``P`` does
not divide the recipe batch the run stops before anything starts, with one
line listing every process count that would work.

What changes with ``P`` is the batch each BN layer normalises over: BN is
per process (no SyncBN), so with ``recipe / P`` images per process its
statistics come from fewer images at larger ``P``. The detectors here
freeze their backbone's BN (``norm_eval``), so this touches only their
trainable norms; pretraining normalises over ``recipe / P`` images, e.g.
32 at 8 GPUs for ImageNet's 256. ``tools/reproduce.py --sync-bn`` makes
every training synchronise BN across processes instead (mmengine's
``sync_bn``).
"""

import functools
import os
from typing import List, NamedTuple

from mmengine.config import Config

from ..utils.errors import UserInputError


@functools.lru_cache(maxsize=None)
def read_config(path: str) -> Config:
    """``Config.fromfile(path)``, parsed once per process (a table plans
    every row's stages from the same few configs)."""
    return Config.fromfile(path)


def recipe_batch(cfg: Config) -> int:
    """A config's recipe total batch: ``auto_scale_lr.base_batch_size``."""
    return int(cfg.auto_scale_lr.base_batch_size)


class BatchPlan(NamedTuple):
    """How a training stage reaches its recipe's batch.

    Attributes:
        recipe (int): the config's total batch.
        processes (int): processes (GPUs) of the stage, on every node.
        per_process (int): ``train_dataloader.batch_size`` of each.
        nodes (int): the nodes they run on.
    """

    recipe: int
    processes: int
    per_process: int
    nodes: int = 1

    @property
    def total(self) -> int:
        return self.processes * self.per_process

    def as_dict(self) -> dict:
        return dict(
            recipe_batch=self.recipe,
            processes=self.processes,
            nodes=self.nodes,
            batch_per_process=self.per_process,
            total_batch=self.total,
        )


def divisors(n: int) -> List[int]:
    """Every process count that splits a batch of ``n`` evenly."""
    return [p for p in range(1, n + 1) if n % p == 0]


def plan_batch(config_path: str, gpus: int, nodes: int = 1) -> BatchPlan:
    """The per-process batch that keeps ``config_path``'s recipe batch on
    ``gpus`` processes on each of ``nodes`` nodes.

    Raises:
        UserInputError: ``gpus x nodes`` does not divide the recipe batch.
    """
    recipe = recipe_batch(read_config(config_path))
    processes = gpus * nodes
    if recipe % processes:
        spread = f' ({gpus} GPUs x {nodes} nodes)' if nodes > 1 else ''
        raise UserInputError(
            f'{os.path.basename(config_path)}: its recipe batch {recipe} '
            f'does not split over {processes} processes{spread}; use a '
            'process count (--gpus x --nodes) that divides it: '
            f'{" / ".join(map(str, divisors(recipe)))}'
        )
    return BatchPlan(recipe, processes, recipe // processes, nodes)


def keep_every_detection_options(config_path: str) -> dict:
    """``--cfg-options`` that set every ``score_thr`` of the detector's
    ``test_cfg`` to 0: a detector trained for an epoch or two on miniature
    data scores below the recipes' thresholds, and the COCO evaluation of
    an empty result is skipped; with every detection kept, pycocotools
    evaluates (bbox, and segm for Mask R-CNN). Capped runs only; the
    results say so."""
    options = {}

    def visit(node, path):
        for key, value in node.items():
            if key == 'score_thr':
                options[f'{path}.score_thr'] = 0.0
            elif isinstance(value, dict):
                visit(value, f'{path}.{key}')

    visit(read_config(config_path).model.get('test_cfg') or {},
          'model.test_cfg')  # fmt: skip
    return options


def epoch_cap_options(config_path: str, cap: int) -> dict:
    """``--cfg-options`` that stop a training after ``cap`` epochs (or
    ``cap`` iterations for an iteration-based config), for a test of the
    full path on miniature data; the results mark it."""
    train_cfg = read_config(config_path).train_cfg
    if 'max_epochs' in train_cfg:
        return {'train_cfg.max_epochs': cap}
    return {'train_cfg.max_iters': cap}
