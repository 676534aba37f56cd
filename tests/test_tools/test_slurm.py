"""tools/slurm_train.sh and slurm_test.sh build the srun command that mmdet's
launchers build: checked with a stub ``srun`` that records what it gets."""

import json
import os
import subprocess

import pytest

from tests.helpers import ROOT, assert_one_line_error

STUB_SRUN = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ['SRUN_RECORD'], 'w') as f:
    json.dump(dict(argv=sys.argv[1:], cwd=os.getcwd(),
                   pythonpath=os.environ.get('PYTHONPATH', '')), f)
sys.exit(int(os.environ.get('SRUN_EXIT', '0')))
"""


@pytest.fixture
def srun(tmp_path):
    """Run a slurm script with the stub srun first on PATH; return
    ``(completed process, what srun got)``."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    stub = bin_dir / 'srun'
    stub.write_text(STUB_SRUN)
    stub.chmod(0o755)
    record = tmp_path / 'srun.json'

    def run(script, *args, **env):
        environ = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                'GPUS',
                'GPUS_PER_NODE',
                'CPUS_PER_TASK',
                'SRUN_ARGS',
                'PYTHON',
                'PYTHONPATH',
            )
        }
        environ.update(env, SRUN_RECORD=str(record))
        environ['PATH'] = f'{bin_dir}{os.pathsep}{environ["PATH"]}'
        if record.exists():
            record.unlink()
        result = subprocess.run(
            ['bash', os.path.join(ROOT, 'tools', script), *args],
            cwd=tmp_path,
            env=environ,
            text=True,
            capture_output=True,
            timeout=60,
        )
        got = json.loads(record.read_text()) if record.exists() else None
        return result, got

    return run


def srun_options(partition, job, gpus, per_node, cpus):
    return [
        '-p',
        partition,
        f'--job-name={job}',
        f'--gres=gpu:{per_node}',
        f'--ntasks={gpus}',
        f'--ntasks-per-node={per_node}',
        f'--cpus-per-task={cpus}',
        '--kill-on-bad-exit=1',
    ]


def test_slurm_train_defaults(srun, tmp_path):
    result, got = srun(
        'slurm_train.sh', 'gpu', 'cpwc', 'configs/a.py', 'work_dirs/a'
    )
    assert result.returncode == 0, result.stderr
    assert got['argv'] == srun_options('gpu', 'cpwc', 8, 8, 5) + [
        'python',
        '-u',
        os.path.join(ROOT, 'tools', 'train.py'),
        'configs/a.py',
        '--work-dir=work_dirs/a',
        '--launcher',
        'slurm',
    ]
    # run where the caller is (relative paths stay the caller's), with the
    # repository importable
    assert os.path.samefile(got['cwd'], tmp_path)
    assert os.path.samefile(got['pythonpath'].split(os.pathsep)[0], ROOT)


def test_slurm_train_env_and_extra_args(srun):
    result, got = srun(
        'slurm_train.sh',
        'p1',
        'job name',
        'cfg.py',
        'out dir',
        '--cfg-options',
        'a=1',
        'b=x y',
        '--resume',
        GPUS='16',
        GPUS_PER_NODE='4',
        CPUS_PER_TASK='2',
        PYTHON='python3',
        SRUN_ARGS='--time=1:00:00 --quotatype=auto',
    )
    assert result.returncode == 0, result.stderr
    # SRUN_ARGS splits into options; the other arguments keep their spaces
    assert got['argv'] == srun_options('p1', 'job name', 16, 4, 2) + [
        '--time=1:00:00',
        '--quotatype=auto',
        'python3',
        '-u',
        os.path.join(ROOT, 'tools', 'train.py'),
        'cfg.py',
        '--work-dir=out dir',
        '--launcher',
        'slurm',
        '--cfg-options',
        'a=1',
        'b=x y',
        '--resume',
    ]


def test_slurm_tasks_per_node_follow_small_gpu_counts(srun):
    _, got = srun('slurm_train.sh', 'p', 'j', 'c.py', 'w', GPUS='2')
    assert got['argv'][: len(srun_options('p', 'j', 2, 2, 5))] == srun_options(
        'p', 'j', 2, 2, 5
    )


def test_slurm_test_command(srun):
    result, got = srun(
        'slurm_test.sh',
        'gpu',
        'eval',
        'configs/a.py',
        'ckpt.pth',
        '--out',
        'res.pkl',
        GPUS='4',
        SRUN_ARGS='--exclusive',
    )
    assert result.returncode == 0, result.stderr
    assert got['argv'] == srun_options('gpu', 'eval', 4, 4, 5) + [
        '--exclusive',
        'python',
        '-u',
        os.path.join(ROOT, 'tools', 'test.py'),
        'configs/a.py',
        'ckpt.pth',
        '--launcher',
        'slurm',
        '--out',
        'res.pkl',
    ]


def test_srun_exit_status_is_the_scripts(srun):
    result, _ = srun('slurm_test.sh', 'p', 'j', 'c.py', 'k.pth', SRUN_EXIT='3')
    assert result.returncode == 3


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_missing_arguments_are_a_usage_line(srun, script):
    result, got = srun(script, 'p', 'j', 'c.py')
    assert_one_line_error(result, 'usage:', 'PARTITION JOB_NAME CONFIG')
    assert got is None  # srun never ran
