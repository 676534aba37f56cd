"""Stop training at the first NaN / inf loss on any rank, before anything
is saved; let a mixed-precision loss scaler skip its steps."""

import math
from itertools import chain
from typing import Dict, List, Tuple

import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper
from torch import nn


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or inf; the message names the iteration, the loss
    and the ranks."""


def non_finite_losses(outputs) -> Dict[str, float]:
    """The logged losses (``outputs`` of a training iteration) that are NaN
    or inf, as floats."""
    bad = {}
    for name, value in (outputs or {}).items():
        if 'loss' not in name:
            continue
        value = float(value.detach() if torch.is_tensor(value) else value)
        if not math.isfinite(value):
            bad[name] = value
    return bad


def describe(bad: Dict[str, float]) -> Tuple[str, str]:
    """``('loss is nan', ' (also loss_cls, ...)')``; on a rank whose own
    losses are finite, ``('a loss is not finite', '')``."""
    if not bad:
        return 'a loss is not finite', ''
    (name, value), *rest = bad.items()
    also = f' (also {", ".join(k for k, _ in rest)})' if rest else ''
    return f'{name} is {value}', also


def ranks_with(flag: bool) -> List[int]:
    """The ranks whose ``flag`` is true (a collective: every rank calls it
    in the same order)."""
    world_size = get_world_size()
    if world_size == 1:
        return [0] if flag else []
    flags = torch.zeros(world_size, dtype=torch.int32)
    flags[get_rank()] = int(flag)
    all_reduce(flags, op='sum')
    return [rank for rank, f in enumerate(flags.tolist()) if f]


def has_non_finite_state(model: nn.Module) -> bool:
    """Whether any floating parameter or buffer (BN statistics) of
    ``model`` holds a NaN or inf."""
    return any(
        not torch.isfinite(t).all()
        for t in chain(model.parameters(), model.buffers())
        if t.is_floating_point()
    )


def loss_scaler_of(runner):
    """The enabled ``torch.amp.GradScaler`` of the runner's optimiser
    wrapper, or None without mixed precision."""
    wrapper = getattr(runner, 'optim_wrapper', None)
    scaler = (
        getattr(wrapper, 'loss_scaler', None)
        if isinstance(wrapper, AmpOptimWrapper)
        else None
    )
    return scaler if scaler is not None and scaler.is_enabled() else None


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` on every rank when a logged loss is
    NaN or inf on any rank.

    In a distributed run a NaN on one rank reaches every rank's weights
    through the gradient all-reduce, while the other ranks' own losses look
    fine; so the ranks agree (one all-reduce of a flag per iteration) and
    all stop together. The hook runs before the checkpoint hook in
    ``after_train_iter`` (priority ``ABOVE_NORMAL``), so no checkpoint is
    written from the poisoned weights.

    Mixed precision: a loss scaler (``AmpOptimWrapper``) skips any step
    whose gradients are not finite, and lowers its scale; that is its
    normal work, not a reason to stop. So with an enabled scaler a
    non-finite loss is only logged, as long as no parameter or buffer of
    any rank became non-finite (checked on such iterations only) and fewer
    than ``max_skipped_steps`` iterations in a row had one.

    tools/train.py adds the hook to every config that lacks it.

    Args:
        max_skipped_steps (int): consecutive non-finite iterations a loss
            scaler may skip before training stops. Defaults to 10.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, max_skipped_steps: int = 10) -> None:
        self.max_skipped_steps = max_skipped_steps
        self._skipped_in_a_row = 0

    def after_train_iter(
        self, runner, batch_idx, data_batch=None, outputs=None
    ):
        bad = non_finite_losses(outputs)
        ranks = ranks_with(bool(bad))
        if not ranks:
            self._skipped_in_a_row = 0
            return
        where = (
            f'at iteration {runner.iter + 1} on rank'
            f'{"s" if len(ranks) > 1 else ""} '
            f'{", ".join(map(str, ranks))}'
        )
        what, also = describe(bad)
        scaler = loss_scaler_of(runner)
        if scaler is not None:
            poisoned = ranks_with(has_non_finite_state(runner.model))
            self._skipped_in_a_row += 1
            if (
                not poisoned
                and self._skipped_in_a_row <= self.max_skipped_steps
            ):
                runner.logger.warning(
                    f'non-finite loss {where}: {what}{also}; the loss scaler '
                    f'skips this step (scale now {scaler.get_scale():g})'
                )
                return
            if poisoned:
                where += (
                    f", and rank {poisoned[0]}'s weights or buffers "
                    'are no longer finite'
                )
            else:
                where += (
                    f', after the loss scaler skipped '
                    f'{self.max_skipped_steps} steps in a row'
                )
        raise NonFiniteLossError(
            f'{what} {where}{also}; training stopped before saving (lower '
            'the lr, add optim_wrapper.clip_grad, or check the data)'
        )
