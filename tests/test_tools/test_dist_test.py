"""tools/dist_test.sh (2 gloo ranks on CPU) against tools/test.py."""

import os
import pickle

import pytest
import torch

from tests.helpers import (
    ROOT,
    cfg_options,
    run_dist_tool,
    run_tool,
    toy_overrides,
)

TOY = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'


def eval_overrides(toy_root, work_dir):
    """Keep every box (2 iterations leave all scores low) so that both the
    dumps and pycocotools have something to compare."""
    options = toy_overrides(toy_root, work_dir)
    options['model.test_cfg.rcnn.score_thr'] = 0.0
    options['test_dataloader.batch_size'] = 1
    return options


@pytest.fixture(scope='module')
def trained(tmp_path_factory, toy_root):
    """A toy Faster R-CNN-CPWC trained 2 iterations by tools/train.py."""
    work_dir = tmp_path_factory.mktemp('trained')
    run_tool(
        'tools/train.py',
        TOY,
        *cfg_options(toy_overrides(toy_root, work_dir)),
        check=True,
        env=dict(os.environ, OMP_NUM_THREADS='1'),
    )
    return work_dir / 'iter_2.pth'


def metric_lines(stdout):
    return [
        line
        for line in stdout.splitlines()
        if line.startswith('coco/bbox_mAP=')
    ]


def test_dist_test_gives_test_py_predictions_and_metrics(
    trained, toy_root, tmp_path
):
    single_out, dist_out = tmp_path / 'single.pkl', tmp_path / 'dist.pkl'
    single = run_tool(
        'tools/test.py',
        TOY,
        str(trained),
        '--out',
        str(single_out),
        *cfg_options(eval_overrides(toy_root, tmp_path / 'single')),
        env=dict(os.environ, OMP_NUM_THREADS='1'),
        check=True,
    )
    # from another directory, with relative paths: they are the caller's
    dist = run_dist_tool(
        'tools/dist_test.sh',
        os.path.relpath(os.path.join(ROOT, TOY), tmp_path),
        os.path.relpath(trained, tmp_path),
        '2',
        '--out',
        'dist.pkl',
        *cfg_options(eval_overrides(toy_root, 'dist')),
        cwd=tmp_path,
    )
    assert dist.returncode == 0, dist.stderr[-3000:]
    assert 'gloo' in dist.stderr  # two CPU ranks, not one process
    assert (tmp_path / 'dist').is_dir()  # the work dir, from the caller's cwd

    with open(single_out, 'rb') as f:
        expected = pickle.load(f)
    with open(dist_out, 'rb') as f:
        got = pickle.load(f)
    assert len(got) == len(expected) == 4  # every val image once, in order
    assert sum(len(e['pred_instances']['scores']) for e in expected) > 0
    for e, g in zip(expected, got):
        assert g['img_id'] == e['img_id']
        for key in ('bboxes', 'scores', 'labels'):
            torch.testing.assert_close(
                g['pred_instances'][key], e['pred_instances'][key]
            )
    # rank 0 prints the metrics once, the same line as one process does
    assert metric_lines(dist.stdout) == metric_lines(single.stdout)
    assert len(metric_lines(single.stdout)) == 1
