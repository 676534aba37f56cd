"""A hook the distributed test adds, recording what each rank saw."""

import json
import os

from mmdet.registry import HOOKS
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.hooks import Hook


@HOOKS.register_module()
class RankRecordHook(Hook):
    """Writes ``rank{r}.json`` with this rank's losses, the all-reduced mean
    losses, and a checksum of its final parameters."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.local, self.mean = [], []

    def after_train_iter(
        self, runner, batch_idx, data_batch=None, outputs=None
    ):
        loss = outputs['loss'].detach().clone()
        self.local.append(loss.item())
        all_reduce(loss, op='mean')
        self.mean.append(loss.item())

    def after_train(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        checksum = sum(p.double().sum().item() for p in model.parameters())
        record = dict(
            rank=get_rank(),
            world_size=get_world_size(),
            local=self.local,
            mean=self.mean,
            checksum=checksum,
            iters=runner.iter,
        )
        os.makedirs(self.out_dir, exist_ok=True)
        with open(
            os.path.join(self.out_dir, f'rank{get_rank()}.json'), 'w'
        ) as f:
            json.dump(record, f)
