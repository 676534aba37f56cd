import json

import pytest

from cpwc_mmdet.visualization import (
    default_keys,
    find_scalars_file,
    load_scalars,
    plot_training_curves,
)


def write_run(work_dir, timestamp, train_steps, val_steps=(), scale=1.0,
              by_epoch=False):  # fmt: skip
    """A ``scalars.json`` as mmengine's LocalVisBackend writes it: train
    lines (losses, lr, time) and val lines (COCO mAPs), these at step 0 if
    ``by_epoch`` (LoggerHook's log_metric_by_epoch in an iteration loop)."""
    folder = work_dir / timestamp / 'vis_data'
    folder.mkdir(parents=True)
    lines = []
    for step in train_steps:
        lines.append(
            dict(lr=0.002, loss=scale * 2 / step, loss_cls=scale / step,
                 loss_bbox=scale / step, acc=90.0, time=0.7, iter=step,
                 step=step)
        )  # fmt: skip
        if step in val_steps:
            lines.append(
                {'coco/bbox_mAP': step / 1000, 'coco/bbox_mAP_50': 0.9,
                 'data_time': 0.01, 'step': 0 if by_epoch else step}
            )  # fmt: skip
    path = folder / 'scalars.json'
    path.write_text(''.join(json.dumps(line) + '\n' for line in lines))
    return path


def test_load_scalars_groups_values_by_key(tmp_path):
    path = write_run(tmp_path, '20260101_000000', [20, 40, 60], [60])
    scalars = load_scalars(str(path))
    assert scalars['loss'] == [(20, 0.1), (40, 0.05), (60, 2 / 60)]
    assert scalars['coco/bbox_mAP'] == [(60, 0.06)]
    assert 'step' not in scalars
    assert default_keys([scalars]) == [
        'loss',
        'loss_cls',
        'loss_bbox',
        'coco/bbox_mAP',
    ]


def test_metrics_logged_by_epoch_go_to_the_last_iteration(tmp_path):
    path = write_run(tmp_path, 't', [20, 40, 60, 80], [40, 80], by_epoch=True)
    scalars = load_scalars(str(path))
    assert scalars['coco/bbox_mAP'] == [(40, 0.04), (80, 0.08)]
    assert scalars['loss'][2] == (60, 2 / 60)


def test_load_scalars_names_the_bad_line(tmp_path):
    path = tmp_path / 'scalars.json'
    path.write_text('{"loss": 1, "step": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r'scalars.json:2 '):
        load_scalars(str(path))


def test_find_scalars_file_takes_the_newest_run(tmp_path):
    write_run(tmp_path, '20260101_000000', [20])
    newest = write_run(tmp_path, '20260102_000000', [20])
    assert find_scalars_file(str(tmp_path)) == str(newest)
    assert find_scalars_file(str(newest.parent.parent)) == str(newest)
    assert find_scalars_file(str(newest)) == str(newest)
    with pytest.raises(FileNotFoundError, match='scalars.json under'):
        find_scalars_file(str(tmp_path / 'elsewhere'))


def test_runs_are_overlaid_one_panel_per_key(tmp_path):
    run_a = load_scalars(str(write_run(tmp_path / 'a', 't', [20, 40], [40])))
    run_b = load_scalars(
        str(write_run(tmp_path / 'b', 't', [20, 40, 60], scale=2))
    )
    fig = plot_training_curves(
        {'a': run_a, 'b': run_b}, keys=['loss', 'coco/bbox_mAP', 'absent']
    )
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ['loss', 'coco/bbox_mAP']
    loss_ax, map_ax = visible
    assert [line.get_label() for line in loss_ax.lines] == ['a', 'b']
    assert loss_ax.lines[1].get_xydata().tolist() == [
        [20, 0.2],
        [40, 0.1],
        [60, pytest.approx(4 / 60)],
    ]
    # only run a validated: one point, its value written next to it
    assert [line.get_label() for line in map_ax.lines] == ['a']
    assert [t.get_text() for t in map_ax.texts] == ['0.040']
    assert map_ax.get_xlim()[1] >= 60  # the panels share one x range


def test_nothing_to_draw_is_an_error(tmp_path):
    run = load_scalars(str(write_run(tmp_path, 't', [20])))
    with pytest.raises(ValueError, match='none of the requested keys'):
        plot_training_curves({'a': run}, keys=['coco/segm_mAP'])
