"""RNGStateHook on one process: device-mapped states, resumes only, and
checkpoints of another world size. (Two ranks: test_dist_safety.py.)"""

import random
from types import SimpleNamespace

import numpy as np
import torch

from cpwc_mmdet.engine import RNGStateHook


class OnDevice(torch.Tensor):
    """A tensor that reports another device (as a checkpoint mapped to
    ``cuda`` by mmengine's resume gives), holding its bytes on the CPU: only
    ``.cpu()`` (or ``.to('cpu')``) gets them back, as from a CUDA tensor.
    ``torch.set_rng_state`` refuses it exactly as it refuses a CUDA tensor.
    """

    @staticmethod
    def __new__(cls, elem, device):
        tensor = torch.Tensor._make_wrapper_subclass(
            cls, elem.shape, dtype=elem.dtype, device=torch.device(device)
        )
        tensor.elem = elem
        return tensor

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is torch.ops.aten._to_copy.default and kwargs.pop(
            'device', None
        ) == torch.device('cpu'):
            return func(args[0].elem, **kwargs)
        raise NotImplementedError(f'{func} on a tensor of another device')


class Logger:
    def __init__(self):
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


def fake_runner(iteration):
    return SimpleNamespace(iter=iteration, logger=Logger())


def draws():
    """One draw from each generator the hook restores."""
    return (random.random(), float(np.random.rand()), torch.rand(3).tolist())


def saved_checkpoint(iteration=4):
    """A checkpoint saved now by the hook, and the draws that followed."""
    checkpoint = dict(meta=dict(iter=iteration))
    RNGStateHook().before_save_checkpoint(fake_runner(iteration), checkpoint)
    return checkpoint, draws()


def resume(checkpoint, iteration=4):
    hook, runner = RNGStateHook(), fake_runner(iteration)
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    return runner


def test_the_stand_in_is_refused_like_a_cuda_tensor():
    state = OnDevice(torch.get_rng_state(), 'cuda')
    assert state.device.type == 'cuda'
    try:
        torch.set_rng_state(state)
    except TypeError as err:
        assert 'ByteTensor' in str(err)
    else:
        raise AssertionError('set_rng_state took a non-CPU tensor')
    assert torch.equal(state.cpu(), torch.get_rng_state())


def test_states_mapped_to_another_device_are_restored():
    checkpoint, expected = saved_checkpoint()
    saved = checkpoint['meta']['rng_state']
    state = saved['ranks'][0] if 'ranks' in saved else saved
    state['torch'] = OnDevice(state['torch'], 'cuda')
    draws()  # move on, as the killed run did
    resume(checkpoint)
    assert draws() == expected


def test_checkpoints_without_per_rank_states_are_restored():
    checkpoint, expected = saved_checkpoint()
    checkpoint['meta']['rng_state'] = checkpoint['meta']['rng_state']['ranks'][
        0
    ]  # the old format
    draws()
    resume(checkpoint)
    assert draws() == expected


def test_load_from_is_not_a_resume():
    checkpoint, expected = saved_checkpoint(iteration=4)
    draws()
    resume(checkpoint, iteration=0)  # load_from: training starts at 0
    assert draws() != expected


def test_another_world_size_keeps_the_seeding_and_says_so():
    checkpoint, expected = saved_checkpoint()
    saved = checkpoint['meta']['rng_state']
    saved['world_size'], saved['ranks'] = 2, saved['ranks'] * 2
    draws()
    runner = resume(checkpoint)
    assert draws() != expected
    assert len(runner.logger.warnings) == 1
    assert (
        'RNG states of 2 processes and this run has 1'
        in runner.logger.warnings[0]
    )
