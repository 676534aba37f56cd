"""Nothing lost, nobody let in: weights_only loading, kill and resume."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

import cpwc_mmdet  # noqa: F401
from cpwc_mmdet.utils.atomic_files import atomic_write
from cpwc_mmdet.utils.safe_checkpoint import safe_load
from tests.helpers import ROOT, toy_overrides

TOY = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'


class WritesMarker:
    """Unpickling this object would create a file (arbitrary code)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}',))


def malicious_checkpoint(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': WritesMarker(str(marker))}, path)
    return path, marker


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    path, marker = malicious_checkpoint(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        safe_load(str(path))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # torch's default, with our allow-list registered
    assert not marker.exists()


def test_malicious_checkpoint_through_test_py(tmp_path, toy_root):
    path, marker = malicious_checkpoint(tmp_path)
    options = toy_overrides(toy_root, tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            'tools/test.py',
            TOY,
            str(path),
            '--cfg-options',
            *[f'{k}={v}' for k, v in options.items()],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert 'refused to load a checkpoint' in result.stderr
    assert 'Traceback' not in result.stderr
    assert not marker.exists()


def test_allow_list_is_exactly_what_mmengine_writes():
    from cpwc_mmdet.utils.safe_checkpoint import mmengine_checkpoint_globals

    callables = [
        g[0] if isinstance(g, tuple) else g
        for g in mmengine_checkpoint_globals()
    ]
    names = {f'{c.__module__}.{c.__qualname__}' for c in callables}
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    assert not any(
        n.startswith(('os.', 'posix.', 'builtins.', 'subprocess.'))
        for n in names
    )  # the real getattr is never allowed


class GetattrGadget:
    """Unpickles as getattr(HistoryBuffer, '__init__'): not a statistic."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer

        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer

    path = tmp_path / 'gadget.pth'
    torch.save({'meta': GetattrGadget()}, path)
    with pytest.raises(pickle.UnpicklingError, match='not allowed'):
        safe_load(str(path))
    buffer = HistoryBuffer()
    buffer.update(1.0)
    torch.save({'buffer': buffer}, path)  # what mmengine writes
    assert safe_load(str(path))['buffer'].current() == 1.0


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / 'ckpt.pth'
    atomic_write(b'old', path)

    with pytest.raises(TypeError):
        atomic_write(object(), path)  # fails mid-write
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['ckpt.pth']  # no temp file left behind


def losses_by_iter(work_dir):
    """{iteration: loss} from every scalars.json under ``work_dir``."""
    losses = {}
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(os.path.join(root, 'scalars.json')) as f:
                for line in f:
                    record = json.loads(line)
                    if 'loss' in record and 'iter' in record:
                        losses[record['iter']] = record['loss']
    return losses


def train_cmd(work_dir, toy_root, *extra):
    options = toy_overrides(toy_root, work_dir, max_iters=8)
    options.update(
        {
            'default_hooks.checkpoint.interval': 2,
            'default_hooks.checkpoint.max_keep_ckpts': 10,
            'randomness.deterministic': True,
            # augmentation RNG lives in the worker, which mmengine's
            # dataloader fast-forward replays exactly on resume; the
            # main process's RNG comes back through RNGStateHook
            'train_dataloader.num_workers': 1,
            'val_cfg': None,
            'val_dataloader': None,
            'val_evaluator': None,
            'train_cfg.val_interval': 1000,
        }
    )
    return [
        sys.executable,
        'tools/train.py',
        TOY,
        *extra,
        '--cfg-options',
        *[f'{k}={v}' for k, v in options.items()],
    ]


def saved_at_least(work_dir, iteration):
    """Whether ``last_checkpoint`` names ``iter_N.pth`` with N >=
    ``iteration``."""
    try:
        last = (work_dir / 'last_checkpoint').read_text().strip()
    except FileNotFoundError:
        return False
    name = os.path.basename(last)
    return name.endswith('.pth') and int(name[5:-4]) >= iteration


def test_kill_then_resume_continues_exactly(tmp_path, toy_root):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    killed = tmp_path / 'killed'
    proc = subprocess.Popen(
        train_cmd(killed, toy_root),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    # iter_4.pth is written before last_checkpoint names it: wait for the
    # name, the point from which --resume starts at iteration 4
    while proc.poll() is None and not saved_at_least(killed, 4):
        assert time.time() < deadline, 'training never reached iter 4'
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seen_before_kill = losses_by_iter(killed)
    last = (killed / 'last_checkpoint').read_text().strip()
    resumed_from = int(os.path.basename(last)[5:-4])
    assert resumed_from in (4, 6, 8) and resumed_from < 8, last
    safe_load(last)  # whole, loadable

    # an uninterrupted run from the same checkpoint, in its own work dir
    fresh = tmp_path / 'fresh'
    fresh.mkdir()
    shutil.copy(last, fresh / 'start.pth')

    subprocess.run(
        train_cmd(killed, toy_root, '--resume'),
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    subprocess.run(
        train_cmd(fresh, toy_root, '--resume', str(fresh / 'start.pth')),
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    resumed = losses_by_iter(killed)
    uninterrupted = losses_by_iter(fresh)
    after = range(resumed_from + 1, 9)
    assert (killed / 'iter_8.pth').exists()
    assert safe_load(str(killed / 'iter_8.pth'))['meta']['iter'] == 8
    assert [resumed[i] for i in after] == [uninterrupted[i] for i in after]
    # iterations the killed run logged after its checkpoint repeat exactly
    for i in after:
        if i in seen_before_kill:
            assert seen_before_kill[i] == resumed[i], i
