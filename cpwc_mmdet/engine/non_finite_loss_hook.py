"""Stop training at the first NaN / inf loss, before anything is saved."""
import math

import torch
from mmengine.hooks import Hook
from mmdet.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or inf; the message names the iteration and loss."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when a logged loss is not finite.

    Runs before the checkpoint hook in ``after_train_iter`` (priority
    ``ABOVE_NORMAL``), so no checkpoint is written from garbage weights.
    tools/train.py adds it to every config that lacks it.
    """
    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        for name, value in (outputs or {}).items():
            if 'loss' not in name:
                continue
            value = float(value.detach() if torch.is_tensor(value) else value)
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f'{name} is {value} at iteration {runner.iter + 1}; '
                    f'training stopped before saving (lower the lr, add '
                    f'optim_wrapper.clip_grad, or check the data)')
