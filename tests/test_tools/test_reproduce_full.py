"""``tools/reproduce.py TABLE --data full`` for real, on miniature COCO
2017 / ImageNet / CIFAR-100 laid out as the real sets: for every table one
row runs its full-size configs through the dist launchers (2 gloo
processes on the CPU: pretrain -> bridge -> detect -> dist_test.sh, or
pretrain -> test), each training capped at 1 epoch (--max-epochs). The run
is killed once its first stage has finished and the next has started, and
the rerun completes it: finished stages are not run again, the table and
its JSON are written, marked as capped, with each training's processes
and batch (the recipe's)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mmengine.config import Config

from cpwc_mmdet.datasets import (
    make_mini_cifar100,
    make_mini_coco,
    make_mini_imagenet,
)
from cpwc_mmdet.reproduce.batches import recipe_batch
from cpwc_mmdet.reproduce.tables import TABLES
from tests.helpers import ROOT

#: table -> the row that runs (the cheapest, or the method's own)
ROWS = {
    'cpwc-table1': 'resnet164',
    'cpwc-table2': 'mobilenet-v2-cpwc',
    'cpwc-table3': 'cpwc',
    'cpwc-table4': 'resnet164-cpwc-no-pwc',
    'coc-retinanet': 'coc',
    'coc-maskrcnn': 'coc',
}
SITE = os.path.join(ROOT, 'tests', 'miniature_site')


def test_every_table_has_a_row_here():
    assert sorted(ROWS) == sorted(TABLES)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """The miniature sets (one of each): dataset -> root."""
    base = tmp_path_factory.mktemp('miniature')
    roots = {k: str(base / k) for k in ('coco', 'imagenet', 'cifar')}
    make_mini_coco(roots['coco'], num_train=2, num_val=2)
    make_mini_imagenet(roots['imagenet'], per_class=1, num_val=2)
    make_mini_cifar100(roots['cifar'], num_train=4, num_test=2)
    return roots


def command(table, data, work, results):
    return [
        sys.executable, 'tools/reproduce.py', table, '--rows', ROWS[table],
        '--gpus', '2', '--max-epochs', '1', '--coco-root', data['coco'],
        '--imagenet-root', data['imagenet'], '--cifar-root', data['cifar'],
        '--work-dir', str(work), '--results-dir', str(results),
    ]  # fmt: skip


def environment(data, port):
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [SITE, ROOT, os.environ.get('PYTHONPATH', '')]
        ),
        CPWC_MINIATURE_CIFAR=data['cifar'],
        PORT=str(port),
    )


def kill_after_first_stage(proc, row_dir, timeout=900):
    """SIGKILL the run (its whole process group) once a stage has
    finished and the next one has started; the finished stage's name."""
    deadline = time.time() + timeout
    while True:
        assert proc.poll() is None, 'the run ended before it was killed'
        assert time.time() < deadline, 'no stage finished in time'
        stages = sorted(os.listdir(row_dir) if os.path.isdir(row_dir) else [])
        done = [
            s for s in stages
            if os.path.isfile(os.path.join(row_dir, s, 'done.json'))
        ]  # fmt: skip
        if done and len(stages) > len(done):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return done[0]
        time.sleep(0.2)


@pytest.mark.parametrize('table', sorted(ROWS))
def test_full_path_on_miniature_data_killed_and_rerun(table, data, tmp_path):
    work, results = tmp_path / 'work', tmp_path / 'results'
    port = 29700 + sorted(ROWS).index(table) * 7
    env = environment(data, port)
    row_dir = work / ROWS[table] / 'seed0'
    argv = command(table, data, work, results)
    first = subprocess.Popen(
        argv, cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    finished = kill_after_first_stage(first, row_dir)
    marker = row_dir / finished / 'done.json'
    before = marker.read_text()
    rerun = subprocess.run(
        argv, cwd=ROOT, env=env, text=True, capture_output=True, timeout=1500
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert f'{finished}: finished before, skipped' in rerun.stdout
    assert marker.read_text() == before

    name = f'{table}-capped1'
    summary = json.loads((results / f'{name}.json').read_text())
    markdown = (results / f'{name}.md').read_text()
    assert summary['max_epochs'] == 1
    assert 'capped at 1 epoch' in markdown.splitlines()[0]
    (row,) = summary['rows']
    assert row['key'] == ROWS[table]
    assert all(v is None for v in row['ours_minus_paper'].values())
    detection = TABLES[table].kind == 'detection'
    assert sorted(row['trainings']) == (
        ['detect', 'pretrain'] if detection else ['pretrain']
    )
    for stage, plan in row['trainings'].items():
        config = row['configs']['detect' if stage == 'detect' else 'pretrain']
        recipe = recipe_batch(Config.fromfile(os.path.join(ROOT, config)))
        assert plan['processes'] == 2
        assert plan['total_batch'] == plan['recipe_batch'] == recipe
        assert f'2 processes x {plan["batch_per_process"]}' in markdown
    evaluate = json.loads((row_dir / 'evaluate' / 'done.json').read_text())
    written = json.loads((row_dir / 'evaluate' / 'metrics.json').read_text())
    assert evaluate['metrics'] == written  # rank 0's file, read as written
    launcher = 'dist_test.sh' if detection else 'dist_pretrain.sh'
    assert evaluate['command'][:2] == ['bash', f'tools/{launcher}']
    assert '2' in evaluate['command'][3:5]
    if table == 'coc-retinanet':  # scores a detection: pycocotools ran
        assert 'coco/bbox_mAP' in evaluate['metrics']
    if not detection:
        assert 'accuracy/top1' in evaluate['metrics']
