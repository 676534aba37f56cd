"""A reproduced table as ``RESULTS/<name>.json`` and ``RESULTS/<name>.md``.

Per row: the paper's figures, ours (mean ± sample standard deviation over
the seeds; the JSON keeps every seed's value), ours minus the paper's
(full data only: the toy sets are not COCO / ImageNet), Params and FLOPs,
and the configs, data and schedule that produced the numbers. A row
another table runs (``Row.shared``) takes ours from that table's results
file when it was written, else shows the paper's figure alone.
"""

import json
import os
import statistics
from typing import Dict, List, Optional, Tuple

from ..utils.atomic_files import atomic_write
from .tables import Table

DASH = '—'


def mean_std(values: List[float]) -> Dict:
    """``{'mean', 'std', 'per_seed'}``; std is None for one seed."""
    std = statistics.stdev(values) if len(values) > 1 else None
    return dict(
        mean=round(statistics.fmean(values), 4),
        std=None if std is None else round(std, 4),
        per_seed=values,
    )


def read_shared_row(path: str, key: str) -> Optional[Dict]:
    """Row ``key`` of the results file ``path`` (another table's), or None
    when that file or row is absent or unreadable."""
    try:
        with open(path) as f:
            rows = json.load(f)['rows']
        return next(r for r in rows if r['key'] == key)
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


def summarize(
    table: Table,
    data: str,
    data_desc: str,
    schedule_desc: str,
    seeds: int,
    metrics: Dict[str, List[Dict[str, float]]],
    census: Dict[str, Dict],
    configs: Dict[str, Dict[str, str]],
    trainings: Optional[Dict[str, Dict[str, Dict]]] = None,
    max_epochs: Optional[int] = None,
    shared: Optional[Dict[str, Tuple[str, Optional[Dict]]]] = None,
) -> Dict:
    """The table's results as one JSON-ready dict.

    Args:
        table (Table): the table.
        data (str): ``'full'`` or ``'toy'``.
        data_desc (str): the data that produced the numbers.
        schedule_desc (str): the schedule that produced them.
        seeds (int): number of seeds.
        metrics (dict): row key -> one metrics dict per seed (mmengine's
            keys, e.g. ``coco/bbox_mAP``).
        census (dict): row key -> ``{'params', 'flops', 'train_params',
            'train_flops', ...}`` (``census.model_census``).
        configs (dict): row key -> the configs each stage used.
        trainings (dict, optional): row key -> stage -> its processes and
            batch (``BatchPlan.as_dict``; full data).
        max_epochs (int, optional): the trainings were stopped after this
            many epochs (``--max-epochs``): no ours − paper.
        shared (dict, optional): row key of a row another table runs ->
            (that table's results file, its row there or None).
    """
    trainings = trainings or {}
    shared = shared or {}
    rows = []
    for row in table.rows:
        ours, diff, notes = {}, {}, []
        if row.key in shared:
            source, found = shared[row.key]
            rows.append(_shared_entry(row, table, source, found))
            rows[-1].update(
                params=census[row.key]['params'],
                flops=census[row.key]['flops'],
                train_params=census[row.key]['train_params'],
                train_flops=census[row.key]['train_flops'],
                flops_of=census[row.key]['flops_of'],
                census_input=census[row.key]['input'],
                configs=configs[row.key],
                data=data_desc,
                schedule=schedule_desc,
            )
            continue
        for seed, found in enumerate(metrics[row.key]):
            if not any(key in found for _, key, _ in table.metrics):
                notes.append(
                    f'seed {seed}: no detections (mmdet reports no COCO '
                    'metrics), counted as 0'
                )
        for name, key, scale in table.metrics:
            values = [
                round(m.get(key, 0.0) * scale, 4) for m in metrics[row.key]
            ]
            ours[name] = mean_std(values)
            paper = row.paper.get(name)
            diff[name] = (
                round(ours[name]['mean'] - paper, 4)
                if data == 'full' and paper is not None and not max_epochs
                else None
            )
        rows.append(
            dict(
                key=row.key,
                name=row.name,
                paper=dict(row.paper),
                ours=ours,
                ours_minus_paper=diff,
                params=census[row.key]['params'],
                flops=census[row.key]['flops'],
                train_params=census[row.key]['train_params'],
                train_flops=census[row.key]['train_flops'],
                flops_of=census[row.key]['flops_of'],
                census_input=census[row.key]['input'],
                configs=configs[row.key],
                trainings=trainings.get(row.key, {}),
                data=data_desc,
                schedule=schedule_desc,
                notes=notes,
            )
        )
    title = table.title + (' (toy data)' if data == 'toy' else '')
    if max_epochs:
        title += (
            f' (trainings capped at {max_epochs} '
            f'epoch{"s" if max_epochs > 1 else ""})'
        )
    return dict(
        table=table.name,
        title=title,
        data=data,
        max_epochs=max_epochs,
        data_desc=data_desc,
        schedule=schedule_desc,
        seeds=list(range(seeds)),
        metrics=[m[0] for m in table.metrics],
        note=table.note,
        rows=rows,
    )


def _shared_entry(row, table: Table, source: str, found) -> Dict:
    """A shared row's entry: ours and ours − paper from ``found`` (the
    row in ``source``, the other table's results), or none."""
    names = [name for name, _, _ in table.metrics]
    if found is None:
        note = (
            f"{row.shared}'s row, not run here and not in {source}: the "
            "paper's figure alone (python tools/reproduce.py "
            f'{row.shared} runs it)'
        )
        ours = {name: None for name in names}
        diff = {name: None for name in names}
    else:
        note = f"{row.shared}'s row: ours from {source}"
        ours = {name: found['ours'].get(name) for name in names}
        diff = {name: found['ours_minus_paper'].get(name) for name in names}
    return dict(
        key=row.key,
        name=row.name,
        paper=dict(row.paper),
        ours=ours,
        ours_minus_paper=diff,
        trainings=(found or {}).get('trainings', {}),
        shared=row.shared,
        notes=[note],
    )


def _figure(value: Optional[float]) -> str:
    return DASH if value is None else str(value)


def _ours(entry: Optional[Dict]) -> str:
    if entry is None:
        return DASH
    if entry['std'] is None:
        return f'{entry["mean"]:.2f}'
    return f'{entry["mean"]:.2f} ± {entry["std"]:.2f}'


def _diff(value: Optional[float]) -> str:
    return DASH if value is None else f'{value:+.2f}'


def _count(value: int) -> str:
    for unit, scale in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if value >= scale:
            return f'{value / scale:.2f}{unit}'
    return str(value)


def to_markdown(summary: Dict) -> str:
    """The summary as a Markdown table with its data and schedule."""
    header = ['row']
    for name in summary['metrics']:
        header += [f'{name} paper', f'{name} ours', f'{name} ours − paper']
    header += ['Params', 'FLOPs']
    lines = [
        f'# {summary["title"]}',
        '',
        f'{summary["note"]}. Ours: mean ± std over seeds '
        f'{summary["seeds"]} (per-seed values in the JSON).',
        '',
        '| ' + ' | '.join(header) + ' |',
        '|' + '---|' * len(header),
    ]
    for row in summary['rows']:
        cells = [row['name']]
        for name in summary['metrics']:
            cells += [
                _figure(row['paper'].get(name)),
                _ours(row['ours'][name]),
                _diff(row['ours_minus_paper'][name]),
            ]
        cells += [_count(row['params']), _count(row['flops'])]
        lines.append('| ' + ' | '.join(cells) + ' |')
    first = summary['rows'][0]
    lines += [
        '',
        f'FLOPs: {first["flops_of"]}, input {first["census_input"]}. '
        'Params and FLOPs of the deploy form (re-parameterised convs '
        'folded: what is shipped).',
    ]
    lines += [
        f'{row["name"]} trains with {_count(row["train_params"])} params '
        f'and {_count(row["train_flops"])} FLOPs before '
        're-parameterisation.'
        for row in summary['rows']
        if (row['train_params'], row['train_flops'])
        != (row['params'], row['flops'])
    ]
    lines += [
        f'Data: {summary["data_desc"]}.',
        f'Schedule: {summary["schedule"]}.',
    ]
    for row in summary['rows']:
        for stage, plan in row.get('trainings', {}).items():
            lines.append(
                f'{row["name"]}, {stage}: {plan["processes"]} processes x '
                f'{plan["batch_per_process"]} = {plan["total_batch"]} '
                f'(recipe {plan["recipe_batch"]}).'
            )
    if summary.get('max_epochs'):
        lines.append(
            f'Every training stopped after {summary["max_epochs"]} '
            "epoch(s): the numbers test the path, they are not the papers' "
            'and get no ours − paper.'
        )
    if summary['data'] == 'toy':
        lines.append(
            "Toy numbers are not comparable with the paper's (hence no "
            'ours − paper); compare the rows with each other.'
        )
    for row in summary['rows']:
        lines += [f'{row["name"]}, {note}.' for note in row['notes']]
    lines += ['', 'Configs:']
    for row in summary['rows']:
        used = ', '.join(f'{k}: `{v}`' for k, v in row['configs'].items())
        lines.append(f'- {row["name"]}: {used}')
    return '\n'.join(lines) + '\n'


def write_results(summary: Dict, results_dir: str, name: str) -> List[str]:
    """Write ``<name>.json`` and ``<name>.md`` atomically; their paths."""
    paths = []
    for ext, text in (
        ('json', json.dumps(summary, indent=1, ensure_ascii=False) + '\n'),
        ('md', to_markdown(summary)),
    ):
        path = os.path.join(results_dir, f'{name}.{ext}')
        atomic_write(text, path)
        paths.append(path)
    return paths
