"""Two gloo ranks on CPU through tools/dist_train.sh: a NaN on one rank stops
every rank before a checkpoint is written; a killed run resumes each rank's
random draws exactly."""

import json
import os
import signal
import subprocess
import time

from cpwc_mmdet.utils.safe_checkpoint import safe_load
from tests.helpers import (
    ROOT,
    cfg_options,
    dist_env,
    run_dist_tool,
    toy_overrides,
)

TOY = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'


def write_config(tmp_path, hooks):
    """A toy config that imports the test hooks and adds ``hooks``."""
    config = tmp_path / 'dist_toy.py'
    config.write_text(
        f"_base_ = '{ROOT}/{TOY}'\n"
        "custom_imports = dict(imports=['cpwc_mmdet', 'tests.injected_hooks'],"
        ' allow_failed_imports=False)\n'
        f'custom_hooks = {hooks!r}\n'
    )
    return config


def short_run(toy_root, work_dir, max_iters, interval):
    """1 image per rank and iteration, checkpoints every ``interval``, no
    validation."""
    options = toy_overrides(toy_root, work_dir, max_iters=max_iters)
    options.update(
        {
            'train_dataloader.batch_size': 1,
            'default_hooks.checkpoint.interval': interval,
            'default_hooks.checkpoint.max_keep_ckpts': 10,
            'val_cfg': None,
            'val_dataloader': None,
            'val_evaluator': None,
            'train_cfg.val_interval': 1000,
        }
    )
    return options


def error_lines(stderr):
    return [
        line
        for line in stderr.splitlines()
        if line.startswith('train.py: error:')
    ]


def test_nan_on_rank_1_stops_both_ranks_before_any_checkpoint(
    tmp_path, toy_root
):
    config = write_config(
        tmp_path, [dict(type='ScaleLossOnRankHook', rank=1, iteration=2)]
    )
    # relative work dir, run from tmp_path: paths are the caller's
    result = run_dist_tool(
        'tools/dist_train.sh',
        config.name,
        '2',
        *cfg_options(short_run(toy_root, 'work', max_iters=4, interval=2)),
        cwd=tmp_path,
    )
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 2, result.stderr[-3000:]  # one line from each rank
    for line in lines:
        assert 'at iteration 2 on rank 1' in line, line
        assert 'training stopped before saving' in line
    assert any(
        line.startswith('train.py: error: loss is nan at ') for line in lines
    )
    work_dir = tmp_path / 'work'
    assert work_dir.is_dir()
    assert not list(work_dir.glob('iter_*.pth'))  # iteration 2 and after


def descendants(pid):
    """Every process below ``pid`` (torchrun starts its ranks in their own
    sessions, so killing its process group does not reach them)."""
    children = {}
    for entry in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{entry}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def kill_tree(proc):
    """SIGKILL ``proc`` and all its descendants, as a node failure would."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def logged_losses(log_dir, rank):
    """[(iter, loss), ...] in the order rank ``rank`` logged them."""
    path = log_dir / f'rank{rank}.jsonl'
    if not path.exists():
        return []
    with open(path) as f:
        return [(r['iter'], r['loss']) for r in map(json.loads, f)]


def test_kill_then_resume_repeats_both_ranks_losses(tmp_path, toy_root):
    log_dir = tmp_path / 'losses'
    config = write_config(
        tmp_path, [dict(type='RankLossLogHook', out_dir=str(log_dir))]
    )
    work_dir = tmp_path / 'work'
    options = short_run(toy_root, work_dir, max_iters=8, interval=4)
    options.update(
        {
            'randomness.deterministic': True,
            # augmentation RNG lives in the worker (seeded from the
            # seed and rank, replayed by the fast-forward)
            'train_dataloader.num_workers': 1,
        }
    )
    args = [
        'bash',
        f'{ROOT}/tools/dist_train.sh',
        str(config),
        '2',
        *cfg_options(options),
    ]
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=dist_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    try:
        while min(len(logged_losses(log_dir, r)) for r in (0, 1)) < 6:
            assert proc.poll() is None, 'training ended before the kill'
            assert time.time() < deadline, 'training never reached iter 6'
            time.sleep(0.05)
    finally:  # SIGKILL torchrun, both ranks and their dataloader workers
        kill_tree(proc)
    before = [dict(logged_losses(log_dir, r)) for r in (0, 1)]
    last = (work_dir / 'last_checkpoint').read_text().strip()
    assert last.endswith('iter_4.pth'), last
    saved = safe_load(last)['meta']['rng_state']
    assert saved['world_size'] == 2
    # the ranks' torch generators differ: restoring rank 0's on rank 1
    # would not repeat rank 1's draws
    assert not saved['ranks'][0]['torch'].equal(saved['ranks'][1]['torch'])

    result = run_dist_tool(
        'tools/dist_train.sh',
        str(config),
        '2',
        '--resume',
        *cfg_options(options),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):
        losses = logged_losses(log_dir, rank)
        resumed = dict(losses[len(before[rank]) :])
        assert sorted(resumed) == [5, 6, 7, 8]
        repeated = sorted(set(resumed) & set(before[rank]))
        assert len(repeated) >= 2  # iterations 5 and 6 at least
        assert [resumed[i] for i in repeated] == [
            before[rank][i] for i in repeated
        ], rank
