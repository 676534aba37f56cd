"""The method folders' ``metafile.yml`` (mmdet's model-index schema),
derived: every config of the folder, its recipe (epochs, batch) read from
the config, the papers' figures from the table registry (``tables.py``),
Params and FLOPs from the census (``census.py``).
``tools/misc/update_metafiles.py`` writes them; ``tests/test_configs``
checks that the files on disk are what this module derives.
"""

import glob
import os
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from .batches import recipe_batch
from .census import model_census, padded
from .tables import TABLES, Row, Table

#: the collections, by folder
COLLECTIONS = {
    'cpwc': dict(
        name='CPWC',
        architecture=['Contextual Pointwise Convolution', 'ResNet', 'HRNet'],
        url='https://arxiv.org/abs/1910.09643',
        title='CPWC: Contextual Point Wise Convolution for Object Recognition',
        code='cpwc_mmdet/layers/cpwc_conv.py',
        paper='paper',
    ),
    'coc': dict(
        name='CoC',
        architecture=[
            'Convolution of Convolution',
            'Re-parameterization',
            'ResNet',
            'HRNet',
        ],
        url='https://doi.org/10.1109/CVPR52688.2022.00073',
        title='Convolution of Convolution: Let Kernels Spatially Collaborate',
        code='cpwc_mmdet/layers/coc_conv.py',
        paper='poster',
    ),
}
#: configs outside the method folders that belong to a collection
EXTRA_CONFIGS = {
    'cpwc': [
        'configs/faster_rcnn_r50_coco.py',
        'configs/faster_rcnn_r50_cpwc_coco.py',
    ]
}
#: input of the detectors' FLOPs count (HRNet's branches need sides
#: divisible by 32: mmdet's data preprocessor pads to that)
DETECTION_SHAPE = (800, 1333)
HRNET_SHAPE = (800, 1344)
VERSION = 'v0.2.0'

HEADER = """\
# Derived by tools/misc/update_metafiles.py from the table registry
# (cpwc_mmdet/reproduce/tables.py) and the census: do not edit by hand.
# Results are the {paper}'s figures, not ours: nothing has been trained on
# COCO, ImageNet or CIFAR-100 here (null: no figure in the {paper}).
# Parameters: every parameter of the model built from Config (train form).
# FLOPs: multiply-adds (MACs) of a detector's extract_feat (backbone + neck)
# on one 800x1333 image (800x1344 for HRNet), counted by mmengine's
# FlopAnalyzer (cpwc_mmdet.utils.census.count); pretraining configs give
# Parameters only."""


def is_pretraining(config: str) -> bool:
    return config.endswith(('_in1k.py', '_cifar100.py'))


def _table_position(config: str) -> Tuple:
    """Where ``config`` first appears in the registry, tables in order."""
    for t, table in enumerate(TABLES.values()):
        for r, row in enumerate(table.rows):
            if config in (row.pretrain, row.detect):
                return (0, t, r)
    return (1, 0, 0)


def folder_configs(root: str, folder: str) -> List[str]:
    """The folder's configs (repository paths): detection configs in the
    registry's order (then by name), each deploy config after its train
    config, pretraining configs last."""
    pattern = os.path.join(root, 'configs', folder, '**', '*.py')
    found = EXTRA_CONFIGS.get(folder, []) + sorted(
        os.path.relpath(p, root) for p in glob.glob(pattern, recursive=True)
    )
    deploy = [c for c in found if '/deploy/' in c]
    detection = sorted(
        (c for c in found if c not in deploy and not is_pretraining(c)),
        key=lambda c: (*_table_position(c), c),
    )
    pretraining = sorted(
        (c for c in found if is_pretraining(c)),
        key=lambda c: (*_table_position(c), c),
    )
    ordered = []
    for config in detection:
        ordered.append(config)
        stem = os.path.basename(config).replace('_1x_coco', '')
        ordered += [
            d
            for d in deploy
            if os.path.basename(d).replace('_deploy_1x_coco', '') == stem
        ]
    return ordered + pretraining


def rows_of(config: str) -> List[Tuple[Table, Row]]:
    """(table, row) of every row whose figures are ``config``'s: a
    detection row's detector, a classification row's classifier (a row
    another table shares is counted once, in its own table)."""
    return [
        (table, row)
        for table in TABLES.values()
        for row in table.rows
        if config == (row.detect or row.pretrain) and not row.shared
    ]


def _dataset(cfg: Config) -> str:
    kind = str(cfg.train_dataloader.dataset.get('type', ''))
    if 'CIFAR' in kind:
        return 'CIFAR-100'
    if cfg.get('default_scope') == 'mmpretrain':
        return 'ImageNet-1k'
    return 'COCO'


def _metrics(cfg: Config) -> List[str]:
    """The metrics a detector's evaluator reports (box, then mask)."""
    metric = (cfg.get('val_evaluator') or {}).get('metric', 'bbox')
    metric = [metric] if isinstance(metric, str) else list(metric)
    return [{'bbox': 'box AP', 'segm': 'mask AP'}[m] for m in metric]


def results(config: str, cfg: Config, folder: str) -> Optional[List[Dict]]:
    """The Results of ``config``: metric -> (value, comment) per task; None
    for a deploy config (its train config's figures) or mmdet's own
    recipe pair (no paper figure)."""
    paper = COLLECTIONS[folder]['paper']
    missing = f'not in the {paper}; not measured'
    found = rows_of(config)
    if cfg.get('default_scope') == 'mmpretrain':
        value, comment = None, missing
        for table, row in found:
            value = row.paper.get('top-1')
            comment = table.title.split(':')[0]
        return [
            dict(
                Task='Image Classification',
                Dataset=_dataset(cfg),
                Metrics={'Top 1 Accuracy': (value, comment)},
            )
        ]
    if '/deploy/' in config or 'mmdet-1x' in config:
        return None
    entries = []
    for metric in _metrics(cfg):
        value, comment = None, missing
        for table, row in found:
            box = table.metrics[0][1].startswith('coco/bbox')
            if box == (metric == 'box AP'):
                value = row.paper.get('AP')
                comment = (
                    f'{table.title.split(":")[0]}, {row.name} '
                    f'(AP50 {row.paper.get("AP50")})'
                )
            elif found:
                comment = f'{paper}: not given'
        task = (
            'Object Detection'
            if metric == 'box AP'
            else 'Instance Segmentation'
        )
        entries.append(
            dict(Task=task, Dataset='COCO', Metrics={metric: (value, comment)})
        )
    return entries


def _value(value, comment: str = '') -> str:
    text = 'null' if value is None else str(value)
    return f'{text}  # {comment}' if comment else text


def model_lines(root: str, folder: str, config: str, counts) -> List[str]:
    """The lines of one Model (``counts``: config -> (Parameters, FLOPs or
    None))."""
    cfg = Config.fromfile(os.path.join(root, config))
    params, flops = counts[config]
    lines = [
        f'  - Name: {os.path.basename(config)[:-3]}',
        f'    In Collection: {COLLECTIONS[folder]["name"]}',
        f'    Config: {config}',
        '    Metadata:',
        f'      Training Data: {_dataset(cfg)}',
        f'      Parameters: {_value(params, f"{params / 1e6:.2f}M")}',
    ]
    if flops is not None:
        h, w = HRNET_SHAPE if 'hrnet' in config else DETECTION_SHAPE
        text = f'{flops / 1e9:.2f} GMACs, {h}x{w}'
        if padded((h, w), cfg) != (h, w):
            text += ' padded to {}x{}'.format(*padded((h, w), cfg))
        lines.append(f'      FLOPs: {_value(flops, text)}')
    lines.append(f'      Epochs: {cfg.train_cfg.max_epochs}')
    if cfg.get('default_scope') == 'mmpretrain':
        lines.append(f'      Batch Size: {recipe_batch(cfg)}')
    entries = results(config, cfg, folder)
    if entries is not None:
        lines.append('    Results:')
        for result in entries:
            lines += [
                f'      - Task: {result["Task"]}',
                f'        Dataset: {result["Dataset"]}',
                '        Metrics:',
            ]
            for name, (value, comment) in result['Metrics'].items():
                lines.append(f'          {name}: {_value(value, comment)}')
    return lines + ['']


def metafile_text(root: str, folder: str, counts) -> str:
    """The text of ``configs/<folder>/metafile.yml``.

    Args:
        root (str): the repository.
        folder (str): ``'cpwc'`` or ``'coc'``.
        counts (dict): config -> (Parameters, FLOPs or None).
    """
    info = COLLECTIONS[folder]
    lines = [
        HEADER.format(paper=info['paper']),
        'Collections:',
        f'  - Name: {info["name"]}',
        '    Metadata:',
        '      Training Data: COCO',
        '      Training Techniques:',
        '        - SGD with Momentum',
        '        - Weight Decay',
        '      Architecture:',
        *[f'        - {a}' for a in info['architecture']],
        '    Paper:',
        f'      URL: {info["url"]}',
        f"      Title: '{info['title']}'",
        f'    README: configs/{folder}/README.md',
        '    Code:',
        f'      URL: {info["code"]}',
        f'      Version: {VERSION}',
        '',
        'Models:',
    ]
    for config in folder_configs(root, folder):
        lines += model_lines(root, folder, config, counts)
    return '\n'.join(lines)


def count_config(root: str, config: str) -> Tuple[int, Optional[int]]:
    """(Parameters of the train form, FLOPs of a detector's extract_feat,
    None for a classifier) of ``config``: the census, at the metafile's
    input size."""
    path = os.path.join(root, config)
    if is_pretraining(config):
        return model_census(path, (32, 32))['train_params'], None
    shape = HRNET_SHAPE if 'hrnet' in config else DETECTION_SHAPE
    census = model_census(path, shape)
    return census['train_params'], census['train_flops']
