"""The metrics of an evaluation, as the tools leave them for the next
program: ``<work_dir>/metrics.json``, one JSON object of numbers, written
atomically by rank 0 only.

mmengine's ``LoggerHook`` also dumps the test metrics to ``<timestamp>/
<timestamp>.json``, but every rank writes that file (mmengine 0.10), so
under ``dist_test.sh`` two processes truncate and write it at once and it
can end corrupted; this file is the one to read.
"""

import json
import math
import os
from typing import Dict

from .atomic_files import atomic_write

METRICS_FILE = 'metrics.json'


class MetricsUnreadable(Exception):
    """``metrics.json`` is missing or is not a JSON object of numbers."""


def numeric_metrics(metrics: Dict) -> Dict[str, float]:
    """The metrics that are finite numbers (mmdet adds strings such as
    ``coco/bbox_mAP_copypaste``)."""
    return {
        k: v
        for k, v in metrics.items()
        if isinstance(v, (int, float))
        and not isinstance(v, bool)
        and math.isfinite(v)
    }


def write_metrics(metrics: Dict, directory: str) -> str:
    """Write ``metrics``' numbers to ``directory/metrics.json``
    atomically; its path."""
    path = os.path.join(directory, METRICS_FILE)
    atomic_write(json.dumps(numeric_metrics(metrics), indent=1) + '\n', path)
    return path


def read_metrics(directory: str) -> Dict[str, float]:
    """``directory/metrics.json``.

    Raises:
        MetricsUnreadable: missing, or not a JSON object of numbers.
    """
    path = os.path.join(directory, METRICS_FILE)
    try:
        with open(path) as f:
            metrics = json.load(f)
    except (OSError, ValueError) as err:
        raise MetricsUnreadable(
            f'{path}: {getattr(err, "strerror", None) or err}'
        ) from None
    if not isinstance(metrics, dict) or numeric_metrics(metrics) != metrics:
        raise MetricsUnreadable(f'{path}: not a JSON object of numbers')
    return metrics
