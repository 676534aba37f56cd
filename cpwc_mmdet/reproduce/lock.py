"""One ``tools/reproduce.py`` run per work dir at a time.

``WORK/.reproduce.lock`` holds an exclusive ``flock`` for as long as the
run lives and names its process; a second run on the same work dir stops
in one line saying which process holds it. The kernel releases the lock
when its holder dies (even by SIGKILL), so a lock file a killed run left
behind is stale by construction and the next run takes it.
"""

import contextlib
import fcntl
import os

from ..utils.errors import UserInputError

LOCK = '.reproduce.lock'


@contextlib.contextmanager
def work_dir_lock(work_dir: str):
    """Hold the work dir's lock for the ``with`` block.

    Raises:
        UserInputError: another live run holds it.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors='replace').strip()
            raise UserInputError(
                f'{work_dir} is in use by another reproduce.py run '
                f'(process {holder or "unknown"}): wait for it to finish, '
                'or use another --work-dir'
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
