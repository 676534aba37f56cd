"""Save and restore every rank's random number generators with checkpoints."""

import random
from typing import List, Optional

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook


def rng_state() -> dict:
    """This process's Python, numpy, torch CPU and CUDA RNG states."""
    return dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all()
        if torch.cuda.is_available()
        else [],
    )


def set_rng_state(state: dict) -> None:
    """Restore :func:`rng_state`'s ``state``. Its tensors may have been
    mapped to any device by the checkpoint loader (mmengine's resume maps to
    the training device); the generators take CPU byte tensors."""
    random.setstate(_as_python_state(state['python']))
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'].cpu())
    cuda = [s.cpu() for s in state['cuda']]
    if (
        cuda
        and torch.cuda.is_available()
        and len(cuda) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(cuda)


def _as_python_state(state):
    """random.setstate wants tuples; a checkpoint round trip may give lists."""
    version, internal, gauss = state
    return version, tuple(internal), gauss


def per_rank_states(saved: dict) -> dict:
    """``checkpoint['meta']['rng_state']`` as ``dict(world_size, ranks)``;
    checkpoints from before per-rank states hold one process's state."""
    if 'ranks' in saved:
        return saved
    return dict(world_size=1, ranks=[saved])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Put every rank's Python, numpy and torch RNG states into each
    checkpoint and give each rank its own back on resume.

    mmengine re-seeds on resume and fast-forwards the dataloader, but the
    draws the skipped iterations made in the training processes (RoI and
    anchor samplers, augmentation without workers) are lost, so a resumed
    run drifts from the run it continues. With this hook, deterministic
    settings and dataloader workers (whose seeds mmengine derives from the
    seed and rank), it does not. tools/train.py adds it.

    Only rank 0 writes checkpoints, so in a distributed run every rank's
    states are gathered when a checkpoint is about to be saved:
    :class:`AtomicCheckpointHook` calls ``prepare_checkpoint`` on every rank
    just before it saves (one small ``all_gather_object``, only then), and
    rank 0 saves the list. With mmengine's plain ``CheckpointHook`` no rank
    is asked, and only rank 0's states are saved (said in the log). A run
    resumed with another number of processes cannot repeat the original
    anyway (each rank sees other data): it keeps mmengine's seeding and says
    so in the log.

    Restoring happens at ``before_train``, after mmengine's own resume
    (which may re-seed) and before the dataloader is fast-forwarded, and
    only when resuming (a ``load_from`` checkpoint's states are ignored).
    """

    # after NonFiniteLossHook and the logger, before CheckpointHook
    priority = 'LOW'

    def __init__(self) -> None:
        self._gathered: Optional[List[dict]] = None
        self._pending: Optional[dict] = None

    def prepare_checkpoint(self, runner) -> None:
        """Every rank, just before a save: gather the ranks' states."""
        if get_world_size() > 1:
            self._gathered = all_gather_object(rng_state())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        world_size = get_world_size()
        gathered, self._gathered = self._gathered, None
        if world_size == 1:
            ranks = [rng_state()]
        elif gathered is not None:
            ranks = gathered
        else:  # saved without prepare_checkpoint (not AtomicCheckpointHook)
            runner.logger.warning(
                "RNGStateHook: only rank 0's RNG states are in this "
                'checkpoint (the checkpoint hook did not gather them: use '
                "AtomicCheckpointHook); other ranks will keep mmengine's "
                'seeding when resuming from it'
            )
            ranks = [rng_state()] + [None] * (world_size - 1)
        checkpoint.setdefault('meta', {})['rng_state'] = dict(
            world_size=world_size, ranks=ranks
        )

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        saved = meta.get('rng_state')
        self._pending = None
        if not saved:
            return
        saved = per_rank_states(saved)
        world_size, rank = get_world_size(), get_rank()
        if saved['world_size'] != world_size:
            runner.logger.warning(
                f'RNGStateHook: the checkpoint holds the RNG states of '
                f'{saved["world_size"]} processes and this run has '
                f"{world_size}: they are not restored (mmengine's seeding "
                'applies), so random draws differ from the original run'
            )
            return
        state = saved['ranks'][rank]
        if state is None:
            runner.logger.warning(
                f'RNGStateHook: no RNG states of rank {rank} in the checkpoint'
            )
            return
        self._pending = dict(state=state, iter=meta.get('iter'))

    def before_train(self, runner) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and pending['iter'] == runner.iter:
            set_rng_state(pending['state'])
