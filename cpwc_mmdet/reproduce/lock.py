"""One ``tools/reproduce.py`` run per work dir at a time.

``WORK/.reproduce.lock`` holds an exclusive ``flock`` for as long as the
run lives and names its process. The stage it is running inherits the
lock's descriptor, so the lock lasts until the stage's launcher has
exited too: a run killed by SIGKILL (whose stage gets SIGTERM, see
:mod:`.stages`) keeps its work dir locked while that stage shuts down.

A second run on the same work dir stops in one line when the holder is
alive. When the holder is gone but the lock is still held (the stage of a
killed run shutting down), it waits for up to ``wait`` seconds. A lock
file whose holder and stage are both gone is stale and is taken.
"""

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass

from ..utils.errors import UserInputError

LOCK = '.reproduce.lock'


@dataclass(frozen=True)
class HeldLock:
    """A held work dir lock: its file and the descriptor stages inherit."""

    path: str
    fd: int


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a process of another user too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(fd: int) -> str:
    return os.pread(fd, 64, 0).decode(errors='replace').strip()


def _take(fd: int, work_dir: str, wait: float, say) -> None:
    deadline = time.monotonic() + wait
    waiting = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _holder(fd)
        if holder.isdigit() and not process_alive(int(holder)):
            if time.monotonic() < deadline:  # its stage is shutting down
                if not waiting:
                    say(
                        f'{work_dir}: waiting for the stage of a killed run '
                        f'(process {holder}) to exit'
                    )
                    waiting = True
                time.sleep(0.5)
                continue
            raise UserInputError(
                f'{work_dir} is still locked by the stage of a killed '
                f'reproduce.py run (process {holder}) after {wait:.0f} s: '
                'stop its processes, or use another --work-dir'
            )
        raise UserInputError(
            f'{work_dir} is in use by another reproduce.py run '
            f'(process {holder or "unknown"}): wait for it to finish, '
            'or use another --work-dir'
        )


@contextlib.contextmanager
def work_dir_lock(work_dir: str, wait: float = 300.0, say=print):
    """Hold the work dir's lock for the ``with`` block; yields a
    :class:`HeldLock`.

    Raises:
        UserInputError: another live run holds it, or a killed run's
            stage still held it after ``wait`` seconds.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        _take(fd, work_dir, wait, say)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        yield HeldLock(path, fd)
    finally:
        os.close(fd)  # releases the lock (unless a stage still holds it)
