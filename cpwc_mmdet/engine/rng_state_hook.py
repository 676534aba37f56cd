"""Save and restore the random number generators with each checkpoint."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmdet.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Put the Python, numpy and torch RNG states into every checkpoint and
    restore them on resume.

    mmengine re-seeds on resume and fast-forwards the dataloader, but the
    RNG draws the skipped iterations made (RoI samplers, augmentations) are
    lost, so a resumed run drifts from the run it continues. With this hook,
    and deterministic settings, it does not. tools/train.py adds it.
    """
    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['rng_state'] = dict(
            python=random.getstate(),
            numpy=np.random.get_state(),
            torch=torch.get_rng_state(),
            cuda=torch.cuda.get_rng_state_all()
            if torch.cuda.is_available() else [])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('meta', {}).get('rng_state')
        if not state:
            return
        random.setstate(_as_python_state(state['python']))
        np.random.set_state(state['numpy'])
        torch.set_rng_state(state['torch'])
        if state['cuda'] and torch.cuda.is_available() and \
                len(state['cuda']) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state['cuda'])


def _as_python_state(state):
    """random.setstate wants tuples; a checkpoint round trip may give lists."""
    version, internal, gauss = state
    return version, tuple(internal), gauss
