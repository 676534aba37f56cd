from .cpu_ddp import CPUDistributedDataParallel, init_cpu_process_group
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .norm_recalibration_hook import NormRecalibrationHook
from .rng_state_hook import RNGStateHook

__all__ = [
    'CPUDistributedDataParallel',
    'init_cpu_process_group',
    'NonFiniteLossHook',
    'NonFiniteLossError',
    'NormRecalibrationHook',
    'RNGStateHook',
]
