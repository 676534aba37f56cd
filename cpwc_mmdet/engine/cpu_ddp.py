"""Distributed training on CPUs (gloo) through mmengine 0.10.7.

mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and its Runner hands
``device_ids=[LOCAL_RANK]`` to DDP, both of which fail without CUDA. The
launcher side is handled by :func:`init_cpu_process_group` (the Runner skips
``init_dist`` when a process group exists); the wrapper below drops
``device_ids`` for CPU modules, as torch's DDP requires.
"""

import datetime
import os

import torch.distributed as dist
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper, without ``device_ids`` for a CPU module."""

    def __init__(self, module, device_ids=None, **kwargs):
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        super().__init__(
            module=module, device_ids=None if on_cpu else device_ids, **kwargs
        )


def init_cpu_process_group(timeout_s: int = 1800) -> None:
    """Join torchrun's gloo process group (RANK, WORLD_SIZE, MASTER_ADDR...
    from the environment). Idempotent."""
    if not dist.is_initialized():
        dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            timeout=datetime.timedelta(seconds=timeout_s),
        )
