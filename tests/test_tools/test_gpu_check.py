"""tools/analysis_tools/gpu_check.py runs before anyone has a GPU: its
reduced CPU mode (the Triton op under Triton's interpreter) passes every
step, and without --cpu on a machine with no GPU it says so in one line."""

import subprocess
import sys

import pytest
import torch

from tests.helpers import ROOT, assert_one_line_error, run_tool


def test_cpu_mode_passes_every_step(tmp_path):
    pytest.importorskip('triton')
    result = subprocess.run(
        [sys.executable, 'tools/analysis_tools/gpu_check.py', '--cpu'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith('[')]
    assert result.returncode == 0, (
        result.stdout[-4000:] + result.stderr[-2000:]
    )
    assert [ln[:9] for ln in lines] == [f'[PASS] {i}.' for i in range(1, 7)]
    assert 'SUMMARY: 6 PASS, 0 FAIL (CPU, Triton interpreter)' in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is visible')
def test_no_gpu_is_one_line():
    assert_one_line_error(
        run_tool('tools/analysis_tools/gpu_check.py'),
        'no CUDA device is visible',
    )
