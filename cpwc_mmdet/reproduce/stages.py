"""Running a stage: skip it when finished, resume it when killed.

A stage is finished when its directory holds ``done.json``, written
atomically only after the command succeeded and its outputs were found;
it records the command, so a rerun with other settings in the same work
dir is refused rather than mixed. A stage that was killed has no marker
and runs again; a training stage whose directory holds mmengine's
``last_checkpoint`` gets ``--resume`` and continues from that checkpoint.
"""

import glob
import json
import os
import subprocess
import sys
import time
from typing import Dict, Optional

from ..utils.atomic_files import atomic_write
from ..utils.errors import UserInputError
from .plan import Stage, format_command

DONE = 'done.json'
LOG = 'stage.log'


class StageFailed(Exception):
    """A stage's command exited with an error (its log says why)."""


def read_done(stage: Stage) -> Optional[Dict]:
    """The stage's completion record, or None when it has not finished.

    Raises:
        UserInputError: it finished with another command (another table,
            schedule, seed or data in the same work dir).
    """
    path = os.path.join(stage.directory, DONE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    # the interpreter or launcher (argv[0]) may be spelt differently
    if record.get('command', [])[1:] != list(stage.command)[1:]:
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


def read_metrics(directory: str) -> Dict[str, float]:
    """The metrics a test run wrote: mmengine's ``<timestamp>/
    <timestamp>.json`` in ``directory`` (the newest run's)."""
    paths = sorted(glob.glob(os.path.join(directory, '*', '*.json')))
    paths = [
        p
        for p in paths
        if os.path.basename(p)[:-5] == os.path.basename(os.path.dirname(p))
    ]
    if not paths:
        raise StageFailed(f'{directory}: no metrics json was written')
    with open(paths[-1]) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    metrics = json.loads(lines[-1])
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def collect(stage: Stage) -> Dict:
    """What a finished stage produced: checkpoints or metrics."""
    if stage.name in ('pretrain', 'detect'):
        found = link_last_checkpoint(stage.directory, stage.output)
        return dict(outputs=dict(checkpoint=found, link=stage.output))
    if stage.name == 'bridge':
        if not os.path.isfile(stage.output):
            raise StageFailed(f'{stage.output} was not written')
        return dict(outputs=dict(checkpoint=stage.output))
    return dict(metrics=read_metrics(stage.directory))


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


def run_stage(stage: Stage, env=None, say=print) -> Dict:
    """Run ``stage`` unless it finished before; return its record.

    Args:
        stage (Stage): the stage.
        env (dict, optional): the command's environment.
        say (callable): prints one progress line.

    Raises:
        StageFailed: the command failed or left no outputs.
    """
    label = f'{stage.row} seed {stage.seed}: {stage.name}'
    record = read_done(stage)
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
    with open(log, 'a') as out:
        out.write(f'$ {format_command(command)}\n')
        out.flush()
        code = subprocess.call(
            command, stdout=out, stderr=subprocess.STDOUT, env=env
        )
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
