from .cpu_ddp import CPUDistributedDataParallel, init_cpu_process_group
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .rng_state_hook import RNGStateHook

__all__ = [
    'CPUDistributedDataParallel', 'init_cpu_process_group',
    'NonFiniteLossHook', 'NonFiniteLossError', 'RNGStateHook'
]
