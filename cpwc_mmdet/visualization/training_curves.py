"""Training curves (losses, mAP over iterations) from mmengine's scalar logs.

mmengine's ``LocalVisBackend`` writes one JSON object per line to
``WORK_DIR/<timestamp>/vis_data/scalars.json``: training lines (``loss``,
``loss_cls``, ``lr``, ..., ``step`` = iteration) every ``LoggerHook``
interval and validation lines (``coco/bbox_mAP``, ..., ``step``) after each
validation. With ``LoggerHook``'s default ``log_metric_by_epoch=True`` a
validation line's ``step`` is the epoch (0 in iteration-based loops), not
the iteration: :func:`load_scalars` puts such a line at the iteration of the
training line before it.
"""

import glob
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from matplotlib.figure import Figure

#: one logged series: ``(iteration, value)`` pairs in log order
Series = List[Tuple[int, float]]

SCALARS_PATTERN = osp.join('*', 'vis_data', 'scalars.json')


def find_scalars_file(work_dir: str) -> str:
    """The ``scalars.json`` of the newest run in ``work_dir``.

    Args:
        work_dir (str): an mmengine work dir (holding ``<timestamp>/``
            folders), one ``<timestamp>/`` folder, or a ``scalars.json``.

    Raises:
        FileNotFoundError: no ``vis_data/scalars.json`` there.
    """
    if osp.isfile(work_dir):
        return work_dir
    direct = osp.join(work_dir, 'vis_data', 'scalars.json')
    if osp.isfile(direct):
        return direct
    # timestamps (YYYYmmdd_HHMMSS) sort in time order
    found = sorted(glob.glob(osp.join(work_dir, SCALARS_PATTERN)))
    if not found:
        raise FileNotFoundError(
            f'no <timestamp>/vis_data/scalars.json under {work_dir} (is it '
            f'the work dir of an mmengine run with LocalVisBackend?)'
        )
    return found[-1]


def load_scalars(path: str) -> Dict[str, Series]:
    """Every numeric scalar of a ``scalars.json``, by key.

    Returns:
        dict[str, list[tuple[int, float]]]: ``key -> [(step, value), ...]``;
        non-numeric values and non-finite numbers are skipped; a line whose
        ``step`` is below the one before it (an epoch, see above) takes
        that one.

    Raises:
        ValueError: a line is not a JSON object with a ``step``.
    """
    series: Dict[str, Series] = {}
    last_step = 0
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                step = int(record['step'])
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(
                    f'{path}:{number} is not a scalar record ({err})'
                ) from None
            # a metric logged by epoch: at the last logged iteration
            step = last_step = max(step, last_step)
            for key, value in record.items():
                if key == 'step' or isinstance(value, bool):
                    continue
                if isinstance(value, (int, float)) and math.isfinite(value):
                    series.setdefault(key, []).append((step, float(value)))
    return series


def default_keys(runs: Sequence[Dict[str, Series]]) -> List[str]:
    """The losses (``loss*``) then the mAPs (``*_mAP``) logged by any run,
    each group in first-seen order."""
    seen: List[str] = []
    for scalars in runs:
        seen.extend(key for key in scalars if key not in seen)
    losses = [key for key in seen if key.startswith('loss')]
    maps = [key for key in seen if key.endswith('_mAP')]
    return losses + maps


def plot_training_curves(
    runs: Dict[str, Dict[str, Series]],
    keys: Optional[Sequence[str]] = None,
    columns: int = 3,
) -> Figure:
    """One panel per key, every run that logged it overlaid.

    Args:
        runs (dict[str, dict]): ``label -> load_scalars(...)``.
        keys (Sequence[str], optional): what to draw; defaults to
            :func:`default_keys`. Keys no run logged are skipped.
        columns (int): panels per row.

    Returns:
        Figure: a matplotlib figure (no pyplot state); ``fig.savefig(path)``.

    Raises:
        ValueError: none of ``keys`` was logged by any run.
    """
    keys = list(keys) if keys else default_keys(runs.values())
    keys = [k for k in keys if any(k in scalars for scalars in runs.values())]
    if not keys:
        raise ValueError('none of the requested keys is in the logs')
    columns = min(columns, len(keys))
    rows = math.ceil(len(keys) / columns)
    last_step = max(
        step
        for scalars in runs.values()
        for key in keys
        for step, _ in scalars.get(key, ())
    )
    fig = Figure(figsize=(4.2 * columns, 3.2 * rows), layout='constrained')
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, key in zip(axes, keys):
        for label, scalars in runs.items():
            points = scalars.get(key)
            if not points:
                continue
            steps, values = zip(*points)
            # validation metrics are few points: show each one
            few = len(points) <= 20
            (line,) = ax.plot(
                steps, values, marker='o' if few else None, label=label
            )
            if len(points) == 1:
                ax.annotate(
                    f'{values[0]:.3f}',
                    (steps[0], values[0]),
                    textcoords='offset points',
                    xytext=(-6, 6),
                    ha='right',
                    color=line.get_color(),
                )
        ax.set_title(key)
        ax.set_xlabel('iteration')
        ax.set_xlim(0, max(1, last_step) * 1.04)  # panels share one x range
        if 'mAP' in key:  # a fraction: the whole scale
            ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize='small')
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    return fig
