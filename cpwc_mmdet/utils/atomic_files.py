"""Writes that are whole or absent, and never follow a planted symlink.

Every file the project writes (checkpoints, ``last_checkpoint``, converted
weights, results, markers) goes to a fresh temporary file in the target's
folder, created exclusively (``mkstemp``: never a fixed name, never through
an existing link), is flushed to disk, and is renamed over the target
(``os.replace`` is atomic on POSIX and replaces a link at the target, not
the file it points to). A kill leaves the previous file, or none, plus at
worst a stale temporary, which :func:`remove_stale_temporaries` clears.
"""

import contextlib
import fcntl
import glob
import json
import os
import tempfile
from typing import Callable, List, Union

import torch

#: temporaries are ``.<name>.<random>.part`` next to the target; earlier
#: versions wrote ``<name>.part-<pid>`` and ``<name>.part``
TEMP_PATTERNS = ('.*.part', '*.part-*', '*.pth.part')

_UMASK = os.umask(0)
os.umask(_UMASK)


def _write_with(path: str, write: Callable[[object], None]) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{os.path.basename(path)}.', suffix='.part'
    )
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would create it
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise


def atomic_write_with(path: str, write: Callable[[object], None]) -> None:
    """Call ``write(f)`` on a binary file object whose contents become
    ``path`` atomically (e.g. ``lambda f: fig.savefig(f, format='png')``)."""
    _write_with(path, write)


def atomic_write(data: Union[bytes, str], path: str) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    _write_with(path, lambda f: f.write(data))


def atomic_save(obj, path: str) -> None:
    """``torch.save(obj, path)`` atomically."""
    _write_with(path, lambda f: torch.save(obj, f))


def atomic_update_json(path: str, update: Callable[[dict], dict]) -> dict:
    """Rewrite the JSON object at ``path`` as ``update(current)`` (``{}``
    when it is missing or unreadable), atomically and under an exclusive
    lock on its folder, so that processes updating it at once (ranks, two
    tools) each see the other's result. Returns what was written."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        current = {}
        with contextlib.suppress(OSError, ValueError):
            with open(path) as f:
                current = json.load(f)
        new = update(current if isinstance(current, dict) else {})
        atomic_write(json.dumps(new, indent=1, sort_keys=True), path)
        return new
    finally:
        os.close(fd)  # releases the lock


def stale_temporaries(folder: str) -> List[str]:
    """Temporary files a killed write left in ``folder``."""
    found = set()
    for pattern in TEMP_PATTERNS:
        found.update(glob.glob(os.path.join(glob.escape(folder), pattern)))
    return sorted(p for p in found if os.path.isfile(p))


def remove_stale_temporaries(folder: str) -> List[str]:
    """Remove :func:`stale_temporaries` of ``folder``; return their paths."""
    removed = []
    for path in stale_temporaries(folder):
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    return removed
