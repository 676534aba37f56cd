"""``make demo``'s tool, shortened (the README's measured run is the full
one): it trains on the set ``--data-root`` names, prints the COCO table,
and writes both pictures where ``--work-dir`` (relative to the caller)
says."""

import os
import re
import subprocess
import sys

from tests.helpers import ROOT


def test_a_short_demo_prints_the_table_and_draws(tmp_path, toy_root):
    work = tmp_path / 'demo'
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'demo.py'),
         '--max-iters', '4', '--work-dir', 'demo', '--data-root', toy_root,
         '--num-images', '2'],
        cwd=tmp_path, text=True, capture_output=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r'^\| bbox +\| [0-9.]+ +\|', result.stdout, re.M)
    assert 'bbox mAP' in result.stdout
    for name in ('predictions.png', 'curves.png'):
        assert (work / name).read_bytes().startswith(b'\x89PNG'), name
