import json
import os

import pytest

from cpwc_mmdet.utils.metrics_file import (
    METRICS_FILE,
    MetricsUnreadable,
    read_metrics,
    write_metrics,
)


def test_the_numbers_are_written_and_read_back(tmp_path):
    metrics = {
        'coco/bbox_mAP': 0.25,
        'coco/bbox_mAP_copypaste': '0.25 0.4',  # mmdet's string: left out
        'accuracy/top1': 71,
        'flag': True,
        'nan': float('nan'),
    }
    path = write_metrics(metrics, str(tmp_path))
    assert path == os.path.join(tmp_path, METRICS_FILE)
    assert read_metrics(str(tmp_path)) == {
        'coco/bbox_mAP': 0.25,
        'accuracy/top1': 71,
    }
    assert os.listdir(tmp_path) == [METRICS_FILE]  # no temporary left


@pytest.mark.parametrize(
    'text, why',
    [
        (None, 'No such file'),
        ('{"a": 0.1}}', 'Extra data'),  # two ranks writing one file
        ('[0.1]', 'not a JSON object of numbers'),
        ('{"a": "x"}', 'not a JSON object of numbers'),
    ],
)
def test_a_missing_or_broken_file_is_one_reason(tmp_path, text, why):
    if text is not None:
        (tmp_path / METRICS_FILE).write_text(text)
    with pytest.raises(MetricsUnreadable, match=why) as info:
        read_metrics(str(tmp_path))
    assert str(tmp_path / METRICS_FILE) in str(info.value)
    assert '\n' not in str(info.value)


def test_the_file_is_plain_json(tmp_path):
    write_metrics({'a': 1.5}, str(tmp_path))
    assert json.loads((tmp_path / METRICS_FILE).read_text()) == {'a': 1.5}
