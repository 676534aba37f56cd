"""Modules the training tests load through ``custom_imports``: a per-rank
loss log that survives a kill, a hook that makes one rank's loss NaN / inf
at one iteration, and a CPU stand-in for mmengine's AmpOptimWrapper."""

import json
import os

import torch
from mmdet.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@HOOKS.register_module()
class RankLossLogHook(Hook):
    """Appends ``{"iter": i, "loss": l}`` to ``out_dir/rank{r}.jsonl`` after
    every iteration, flushed at once (a killed run keeps what it logged)."""

    priority = 'HIGHEST'

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def after_train_iter(
        self, runner, batch_idx, data_batch=None, outputs=None
    ):
        os.makedirs(self.out_dir, exist_ok=True)
        path = os.path.join(self.out_dir, f'rank{get_rank()}.jsonl')
        with open(path, 'a') as f:
            f.write(
                json.dumps(
                    dict(iter=runner.iter + 1, loss=outputs['loss'].item())
                )
                + '\n'
            )
            f.flush()
            os.fsync(f.fileno())


@HOOKS.register_module()
class ScaleLossOnRankHook(Hook):
    """Multiplies the loss (and every logged loss) by ``factor`` on
    ``rank`` at (1-based) ``iteration``: NaN / inf gradients flow into the
    backward pass and, in a distributed run, DDP's all-reduce, exactly as a
    real numerical blow-up's would."""

    priority = 'HIGHEST'

    def __init__(self, rank, iteration, factor=float('nan')):
        self.rank, self.iteration, self.factor = rank, iteration, factor

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if get_rank() != self.rank or runner.iter + 1 != self.iteration:
            return
        model = (
            runner.model.module
            if is_model_wrapper(runner.model)
            else runner.model
        )
        parse_losses = type(model).parse_losses.__get__(model)
        factor = self.factor

        def scaled(losses):
            loss, log_vars = parse_losses(losses)
            return loss * factor, {k: v * factor for k, v in log_vars.items()}

        model.parse_losses = scaled  # this iteration only

    def after_train_iter(
        self, runner, batch_idx, data_batch=None, outputs=None
    ):
        model = (
            runner.model.module
            if is_model_wrapper(runner.model)
            else runner.model
        )
        model.__dict__.pop('parse_losses', None)


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's AmpOptimWrapper (its step, update and state dict code)
    with torch's CPU loss scaler, since mmengine's refuses to build without
    an accelerator. No autocast: only the scaler's skipping is under test.
    """

    def __init__(self, loss_scale='dynamic', **kwargs):
        OptimWrapper.__init__(self, **kwargs)
        assert loss_scale == 'dynamic'
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu')
        self.cast_dtype = None

    def optim_context(self, model):
        return OptimWrapper.optim_context(self, model)
