"""tools/analysis_tools/gpu_check.py runs before anyone has a GPU: its
reduced CPU mode (the Triton op under Triton's interpreter) passes every
step that means something on a CPU and writes its JSON; a small budget
SKIPs what does not fit and still exits 0; bad ``--steps`` and no GPU are
one-line errors."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from tests.helpers import ROOT, assert_one_line_error, load_tool, run_tool

TOOL = 'tools/analysis_tools/gpu_check.py'


def run_cpu_mode(*args, timeout=900):
    """``gpu_check.py --cpu ARGS``; returns the process and its step lines
    as ``(status, number)``."""
    result = subprocess.run(
        [sys.executable, TOOL, '--cpu', *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    steps = [
        (ln[1:5], int(ln.split('.')[0].split()[1]))
        for ln in result.stdout.splitlines()
        if ln[:6] in ('[PASS]', '[FAIL]', '[SKIP]')
    ]
    return result, steps


def needs_triton_op():
    pytest.importorskip('triton')
    if not hasattr(torch.library, 'custom_op'):
        pytest.skip('torch < 2.4: no Triton op')


def test_cpu_mode_passes_every_step(tmp_path):
    needs_triton_op()
    out = tmp_path / 'results' / 'gpu_check.json'
    result, steps = run_cpu_mode('--out', str(out))
    assert result.returncode == 0, (
        result.stdout[-4000:] + result.stderr[-2000:]
    )
    # every step passes but two without a CPU meaning: the CUDA stream and
    # train.py --amp (its CPU runs and --resume are tested elsewhere)
    assert steps == [
        ('SKIP' if i in (7, 12) else 'PASS', i) for i in range(1, 13)
    ], result.stdout[-4000:]
    assert '[SKIP] 7. non-default CUDA stream: no CUDA stream on the CPU' in (
        result.stdout
    )
    assert '[SKIP] 12. toy train.py --amp, --resume: no --amp on the CPU' in (
        result.stdout
    )
    assert 'SUMMARY: 10 PASS, 0 FAIL, 2 SKIP in ' in result.stdout
    assert '(CPU, Triton interpreter)' in result.stdout
    record = json.loads(out.read_text())
    assert record['summary'] == dict(PASS=10, FAIL=0, SKIP=2)
    assert record['budget_s'] == 540
    assert [s['number'] for s in record['steps']] == list(range(1, 13))
    for step in record['steps']:
        assert set(step) == {'number', 'name', 'status', 'seconds', 'detail'}
        assert step['seconds'] >= 0 and step['detail']
    tuning = record['steps'][7]['detail']
    assert 'measured nothing' in tuning, tuning


def test_small_budget_skips_what_does_not_fit(tmp_path):
    """Steps 3 and 8 expect 25 s or more: with a 20 s budget they say SKIP
    and why; step 1 runs; the exit code is 0."""
    needs_triton_op()
    out = tmp_path / 'results.json'
    result, steps = run_cpu_mode(
        '--steps', '1,3,8', '--budget', '20', '--out', str(out), timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert steps == [('PASS', 1), ('SKIP', 3), ('SKIP', 8)], result.stdout
    assert 'over the budget: needs ~' in result.stdout
    assert 'SUMMARY: 1 PASS, 0 FAIL, 2 SKIP (2 over the budget)' in (
        result.stdout
    )
    record = json.loads(out.read_text())
    assert [s['status'] for s in record['steps']] == ['PASS', 'SKIP', 'SKIP']


def test_without_the_triton_op_its_steps_skip_and_mmcv_runs(monkeypatch):
    """torch < 2.4 (no custom_op): the Triton steps SKIP with the reason,
    versions and mmcv's ops still run."""
    tool = load_tool('analysis_tools/gpu_check')
    reason = 'torch 2.1.2 has no torch.library.custom_op'
    monkeypatch.setattr(tool.dispatch, 'triton_unavailable', lambda: reason)
    ctx = SimpleNamespace(cpu=True, device=torch.device('cpu'),
                          left=lambda: 500.0)  # fmt: skip
    for step in tool.STEPS:
        if step.triton:
            assert tool.run_step(ctx, step) == (
                'SKIP',
                f'the Triton op is unavailable: {reason}',
            )
    status, detail = tool.run_step(ctx, tool.STEPS[0])
    assert status == 'PASS' and f'Triton op unavailable: {reason}' in detail
    assert tool.run_step(ctx, tool.STEPS[1])[0] == 'PASS'


@pytest.mark.parametrize('steps', ['0', '99', 'abc', '-1', '', '1,,2'])
def test_bad_steps_are_one_line(steps, capsys):
    tool = load_tool('analysis_tools/gpu_check')
    with pytest.raises(SystemExit) as exit_:
        tool.parse_args(['--steps', steps])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert '--steps' in err and 'Traceback' not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is visible')
def test_no_gpu_is_one_line():
    assert_one_line_error(run_tool(TOOL), 'no CUDA device is visible')
