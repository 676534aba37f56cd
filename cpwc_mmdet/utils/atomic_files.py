"""Atomic local writes for mmengine: a checkpoint is whole or absent.

mmengine's ``LocalBackend.put`` opens the final path and writes into it, so a
run killed while saving leaves a truncated ``iter_N.pth`` behind. The backend
below writes to a temporary file in the same folder, fsyncs it, and renames
it over the final path (``os.replace`` is atomic on POSIX), so a kill during
saving leaves the previous checkpoint, and ``last_checkpoint``'s pointer to
it, untouched.
"""

import os
import os.path as osp
from pathlib import Path
from typing import Union

from mmengine.fileio.backends import LocalBackend, register_backend


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` so it is never seen half-written."""
    filepath = str(filepath)
    os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
    tmp = f'{filepath}.part-{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


class AtomicLocalBackend(LocalBackend):
    """mmengine's LocalBackend whose writes are atomic renames."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(
        self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8'
    ) -> None:
        atomic_write(obj.encode(encoding), filepath)


def register_atomic_local_backend() -> None:
    """Make every mmengine write to a local path atomic. Idempotent."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
