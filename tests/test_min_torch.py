"""The layer and kernel code on the oldest supported torch (2.1.2): the
CPWC and CoC layers match the spec, and the CUDA path, where the Triton op
cannot exist, runs PyTorch convs after one log line, never an error that a
torch >= 2.4 API is missing (``tests/min_torch_check.py`` runs there).

``make test`` makes the environment (``tools/setup_min_torch.sh``)."""

import os
import subprocess

from tests.helpers import ROOT

PYTHON = os.path.join(ROOT, '.venv-min-torch', 'bin', 'python')


def test_layers_and_ops_run_on_the_oldest_torch():
    assert os.path.isfile(PYTHON), (
        'no .venv-min-torch: run tools/setup_min_torch.sh (make test does)'
    )
    result = subprocess.run(
        [PYTHON, os.path.join(ROOT, 'tests', 'min_torch_check.py')],
        cwd='/',  # the project comes from PYTHONPATH alone
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.split() == [
        'OK',
        'torch_is_old',
        'OK',
        'layer_matches_the_spec',
        'OK',
        'cuda_path_falls_back_with_one_line',
        'OK',
        'compat',
        'OK',
        'coc_deploys_to_a_plain_conv',
    ], result.stdout
