"""tools/analysis_tools/plot_curves.py, run as a user runs it."""

import json

import matplotlib.image

from tests.helpers import assert_one_line_error, run_tool

TOOL = 'tools/analysis_tools/plot_curves.py'


def write_scalars(work_dir, steps=(20, 40, 60)):
    folder = work_dir / '20260101_000000' / 'vis_data'
    folder.mkdir(parents=True)
    lines = [dict(loss=1 / s, loss_cls=0.5 / s, step=s) for s in steps]
    lines.append({'coco/bbox_mAP': 0.4, 'step': steps[-1]})
    (folder / 'scalars.json').write_text(
        ''.join(json.dumps(line) + '\n' for line in lines)
    )
    return work_dir


def test_two_runs_to_one_png(tmp_path):
    run_a = write_scalars(tmp_path / 'run_a')
    run_b = write_scalars(tmp_path / 'run_b', steps=(20, 40))
    out = tmp_path / 'out' / 'curves.png'
    result = run_tool(
        TOOL,
        str(run_a),
        str(run_b),
        '--out',
        str(out),
        '--keys',
        'loss',
        'coco/bbox_mAP',
        check=True,
    )
    assert f'curves of 2 run(s) written to {out}' in result.stdout
    height, width, _ = matplotlib.image.imread(str(out)).shape
    # two panels side by side, 4.2 x 3.2 inches each at 100 dpi
    assert (height, width) == (320, 840)


def test_errors_are_one_line(tmp_path):
    run = write_scalars(tmp_path / 'run')
    empty = tmp_path / 'empty'
    empty.mkdir()
    result = run_tool(TOOL, str(run), str(empty))
    assert_one_line_error(
        result, 'plot_curves.py: error:', str(empty), 'vis_data/scalars.json'
    )
    result = run_tool(
        TOOL,
        str(run),
        '--keys',
        'coco/segm_mAP',
        '--out',
        str(tmp_path / 'x.png'),
    )
    assert_one_line_error(
        result,
        'no run logged coco/segm_mAP',
        'logged: coco/bbox_mAP, loss, loss_cls',
    )
