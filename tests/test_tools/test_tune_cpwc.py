"""tools/analysis_tools/tune_cpwc.py: its arguments are checked where they
are parsed, and on a machine without a GPU it says so in one line (its
tuning and the file it writes are tested under Triton's interpreter in
tests/test_ops/test_triton_context.py, 'lookup')."""

import pytest
import torch

from tests.helpers import assert_one_line_error, load_tool, run_tool

TOOL = 'tools/analysis_tools/tune_cpwc.py'
CONFIG = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'


@pytest.mark.parametrize(
    'args,fragment',
    [
        (['--sizes', '800'], 'a size is HxW'),
        (['--sizes', '16x16'], 'sizes must be within 32..8192'),
        (['--batch', '0'], '--batch must be within 1..64'),
        (['--amp', 'fp8'], 'invalid choice'),
    ],
)
def test_bad_arguments_are_one_line(args, fragment, capsys):
    tool = load_tool('analysis_tools/tune_cpwc')
    with pytest.raises(SystemExit) as exit_:
        tool.parse_args([CONFIG, *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and fragment in err[0], err


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is visible')
def test_no_gpu_is_one_line():
    assert_one_line_error(run_tool(TOOL, CONFIG), 'no CUDA device is visible')
