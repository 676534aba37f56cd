"""Hooks (atomic checkpoints, NaN / inf stop, RNG states, BN
recalibration, console progress) and CPU distributed training."""

from .checkpoint_hook import AtomicCheckpointHook
from .cpu_ddp import CPUDistributedDataParallel, init_cpu_process_group
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .norm_recalibration_hook import NormRecalibrationHook
from .rng_state_hook import RNGStateHook

__all__ = [
    'AtomicCheckpointHook',
    'CPUDistributedDataParallel',
    'init_cpu_process_group',
    'NonFiniteLossHook',
    'NonFiniteLossError',
    'NormRecalibrationHook',
    'RNGStateHook',
]
