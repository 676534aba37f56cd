"""Running a stage: skip it when finished, resume it when killed.

A stage is finished when its directory holds ``done.json``, written
atomically only after the command succeeded and its outputs were found;
it records the command, so a rerun with other settings in the same work
dir is refused rather than mixed. The comparison is of the command's
portable form (paths under the work dir and the repository written
relative to them), so that a rerun from another directory, or of a work
dir moved elsewhere, resumes. A stage that was killed has no marker (an
unreadable one counts as none) and runs again; a training stage whose
directory holds mmengine's ``last_checkpoint`` gets ``--resume`` and
continues from that checkpoint. SIGINT / SIGTERM to the run reach the
stage's command (its own process group), which stops resumable. On Linux
the command also gets SIGTERM when the run dies without a word (SIGKILL,
the OOM killer), so no orphaned training goes on beside a rerun.
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from ..utils.atomic_files import atomic_write
from ..utils.errors import UserInputError
from ..utils.metrics_file import MetricsUnreadable, read_metrics
from .plan import Stage, format_command

DONE = 'done.json'
LOG = 'stage.log'


class StageFailed(Exception):
    """A stage's command exited with an error (its log says why)."""


def _portable_path(value: str, places: Dict[str, str]) -> str:
    """``value`` with a leading path under one of ``places`` (name ->
    absolute directory) written as ``{name}/rest``."""
    if os.sep not in value and not value.endswith(('.py', '.pth', '.sh')):
        return value
    path = os.path.abspath(value)
    for name, place in places.items():
        if path == place or path.startswith(place + os.sep):
            return '{' + name + '}' + path[len(place) :]
    return path


def portable_command(
    command: Sequence[str], work_dir: str, root: str
) -> List[str]:
    """``command`` without argv[0] (the interpreter may be spelt
    differently) and with its paths, also those in ``key=value``
    options, written relative to the work dir or the repository: the
    same for a rerun from another directory or of a moved work dir."""
    places = {
        'work_dir': os.path.abspath(work_dir),
        'root': os.path.abspath(root),
    }
    out = []
    for arg in list(command)[1:]:
        key, sep, value = arg.partition('=')
        if sep and not arg.startswith('-'):
            out.append(key + sep + _portable_path(value, places))
        else:
            out.append(_portable_path(arg, places))
    return out


def read_done(
    stage: Stage, work_dir: str, root: str, say=print
) -> Optional[Dict]:
    """The stage's completion record, or None when it has not finished
    (or its record cannot be read: said in one line, and the stage runs
    again).

    Raises:
        UserInputError: it finished with another command (another table,
            schedule, seed or data in the same work dir).
    """
    path = os.path.join(stage.directory, DONE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
        recorded = record['portable']
    except (OSError, ValueError, KeyError, TypeError) as err:
        say(
            f'{stage.row} seed {stage.seed}: {stage.name}: {path} is '
            f'unreadable ({type(err).__name__}); running the stage again'
        )
        return None
    if recorded != portable_command(stage.command, work_dir, root):
        raise UserInputError(
            f'{stage.directory} finished with another command than this '
            'run would give it: use another --work-dir or delete that '
            'directory'
        )
    return record


def link_last_checkpoint(directory: str, link: str) -> str:
    """Point ``link`` at the checkpoint mmengine's ``last_checkpoint``
    names (an atomic symlink swap); return the checkpoint's path."""
    with open(os.path.join(directory, 'last_checkpoint')) as f:
        last = f.read().strip()
    target = os.path.basename(last)
    if not os.path.isfile(os.path.join(directory, target)):
        raise StageFailed(f'{directory}: last_checkpoint names {last}, absent')
    tmp = f'{link}.part-{os.getpid()}'
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return os.path.join(directory, target)


def collect(stage: Stage) -> Dict:
    """What a finished stage produced: checkpoints or metrics."""
    if stage.name in ('pretrain', 'detect'):
        found = link_last_checkpoint(stage.directory, stage.output)
        return dict(outputs=dict(checkpoint=found, link=stage.output))
    if stage.name == 'bridge':
        if not os.path.isfile(stage.output):
            raise StageFailed(f'{stage.output} was not written')
        return dict(outputs=dict(checkpoint=stage.output))
    try:
        return dict(metrics=read_metrics(stage.directory))
    except MetricsUnreadable as err:
        raise StageFailed(f'no metrics: {err}') from None


def write_generated_config(stage: Stage) -> None:
    """Write the stage's generated config unless it is there already."""
    if stage.config_text is None:
        return
    path, text = stage.config_text
    if os.path.isfile(path):
        with open(path) as f:
            if f.read() == text:
                return
    atomic_write(text, path)


def _linux_prctl():
    """libc's ``prctl`` on Linux (looked up here, before any fork), else
    None."""
    if not sys.platform.startswith('linux'):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _linux_prctl()
_PR_SET_PDEATHSIG = 1


def _terminated_with(parent: int):
    """A ``preexec_fn``: the child gets SIGTERM when ``parent`` dies (and
    exits at once if it already has)."""

    def arrange():
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:
                os._exit(128 + signal.SIGTERM)

    return arrange


def run_command(
    command: List[str], log: str, env=None, keep_fds: Sequence[int] = ()
) -> int:
    """Run ``command`` in its own process group, its output appended to
    ``log``; SIGINT / SIGTERM to this process are passed on to it (it
    stops as it would, resumable) before they end this process, and on
    Linux it gets SIGTERM if this process dies. ``keep_fds`` stay open in
    it (the work dir's lock)."""
    with open(log, 'a') as out:
        out.write(f'$ {format_command(command)}\n')
        out.flush()
        child = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            pass_fds=tuple(keep_fds),
            preexec_fn=_terminated_with(os.getpid()),
        )
        try:
            return child.wait()
        except KeyboardInterrupt:  # tools/reproduce.py: SIGTERM too
            _stop(child)
            raise


def _stop(child: subprocess.Popen, grace: float = 60.0) -> None:
    """SIGTERM to the child's process group, SIGKILL after ``grace`` s."""
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    except ProcessLookupError:
        pass


def run_stage(
    stage: Stage,
    work_dir: str,
    root: str,
    env=None,
    say=print,
    keep_fds: Sequence[int] = (),
) -> Dict:
    """Run ``stage`` unless it finished before; return its record.

    Args:
        stage (Stage): the stage.
        work_dir (str): the run's work dir; root (str): the repository
            (both for the command's portable form).
        env (dict, optional): the command's environment.
        say (callable): prints one progress line.
        keep_fds (sequence of int): descriptors the command inherits.

    Raises:
        StageFailed: the command failed or left no outputs.
    """
    label = f'{stage.row} seed {stage.seed}: {stage.name}'
    record = read_done(stage, work_dir, root, say)
    if record is not None:
        say(f'{label}: finished before, skipped')
        return record
    os.makedirs(stage.directory, exist_ok=True)
    write_generated_config(stage)
    command = list(stage.command)
    resumed = stage.resumable and os.path.isfile(
        os.path.join(stage.directory, 'last_checkpoint')
    )
    if resumed:
        command.append('--resume')
    log = os.path.join(stage.directory, LOG)
    say(f'{label}: {"resuming" if resumed else "running"} (log: {log})')
    start = time.time()
    code = run_command(command, log, env, keep_fds)
    seconds = time.time() - start
    if code != 0:
        raise StageFailed(
            f'{label} failed (exit code {code}); its log: {log} ({tail(log)})'
        )
    record = dict(
        stage=stage.name,
        row=stage.row,
        seed=stage.seed,
        command=list(stage.command),
        portable=portable_command(stage.command, work_dir, root),
        resumed=resumed,
        seconds=round(seconds, 1),
        **collect(stage),
    )
    atomic_write(
        json.dumps(record, indent=1), os.path.join(stage.directory, DONE)
    )
    say(f'{label}: done in {seconds:.0f} s')
    return record


def tail(log: str) -> str:
    """The last non-empty line of a log (an error's one line)."""
    with open(log, errors='replace') as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[-1] if lines else 'empty log'


def stage_env(cpu: bool) -> Dict[str, str]:
    """The environment of the commands: this interpreter for the
    launchers (``PYTHON``); on the CPU one OpenMP thread per stage unless
    ``OMP_NUM_THREADS`` is set (measured on 2 shared cores: the toy
    detector's iteration took 8.5 s with 2 threads next to another job,
    0.43 s with 1)."""
    env = dict(os.environ, PYTHON=sys.executable)
    if cpu:
        env.setdefault('OMP_NUM_THREADS', '1')
    return env
