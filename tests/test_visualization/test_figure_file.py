import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.figure  # noqa: E402
import pytest  # noqa: E402

from cpwc_mmdet.visualization import save_figure  # noqa: E402


def _figure():
    fig = matplotlib.figure.Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def test_a_figure_is_written_in_its_extensions_format(tmp_path):
    png, svg = tmp_path / 'a.png', tmp_path / 'a.svg'
    save_figure(_figure(), str(png))
    save_figure(_figure(), str(svg))
    assert png.read_bytes().startswith(b'\x89PNG')
    assert b'<svg' in svg.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ['a.png', 'a.svg']


def test_a_planted_symlink_is_replaced_not_followed(tmp_path):
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    os.symlink(victim, tmp_path / 'curves.png')
    save_figure(_figure(), str(tmp_path / 'curves.png'))
    assert victim.read_text() == 'precious'
    assert not (tmp_path / 'curves.png').is_symlink()


def test_a_failed_save_keeps_the_previous_file(tmp_path):
    target = tmp_path / 'curves.nosuchformat'
    target.write_text('previous')
    with pytest.raises(ValueError, match='nosuchformat'):
        save_figure(_figure(), str(target))
    assert target.read_text() == 'previous'
    assert os.listdir(tmp_path) == ['curves.nosuchformat']  # no temporary
