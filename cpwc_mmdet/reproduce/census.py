"""Params and FLOPs of a row's model, and a table's census next to the
paper's figures.

:func:`model_census` builds a config's model (an mmdet detector or an
mmpretrain classifier) and counts it with the project's one count
(``cpwc_mmdet.utils.census.count``): a detector's parameters are the whole
model's and its FLOPs are ``extract_feat``'s (backbone + neck, every
operator FlopAnalyzer counts) on one image; a classifier's FLOPs are the
conv + fc multiply-adds of its logits, the figure CPWC Tables 1 and 2
print. No dataset or checkpoint is needed. Both forms are counted:
``params`` / ``flops`` of the deploy form (CoC, stnd and orth
re-parameterised to plain convs: what is shipped, the baseline's figures)
and ``train_params`` / ``train_flops`` of the form that trains.

:func:`table_census` does that for every row of a paper table and
compares the counts with the paper's printed figures (:func:`match_figure`).
"""

import json
import os
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmdet.registry import MODELS as DET_MODELS
from mmdet.utils import register_all_modules as register_mmdet
from mmengine.config import Config
from mmengine.registry import DefaultScope

from ..conversion import switch_model_to_deploy
from ..utils.atomic_files import atomic_write
from ..utils.census import ClassifierLogits, FeatureExtractor, count
from ..utils.text_table import format_table
from .tables import Table


def build_model(cfg: Config):
    """The model of an mmdet or mmpretrain config (no weights loaded)."""
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    if cfg.get('default_scope') == 'mmpretrain':
        from mmpretrain.registry import MODELS as CLS_MODELS
        from mmpretrain.utils import register_all_modules

        register_all_modules(init_default_scope=False)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            return CLS_MODELS.build(cfg.model)
    register_mmdet(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DET_MODELS.build(cfg.model)


def padded(shape: Tuple[int, int], cfg: Config) -> Tuple[int, int]:
    """``shape`` rounded up to the data preprocessor's size divisor."""
    preprocessor = cfg.model.get('data_preprocessor') or {}
    divisor = preprocessor.get('pad_size_divisor') or 1
    return tuple(-(-side // divisor) * divisor for side in shape)


def model_census(config: str, shape: Tuple[int, int]) -> Dict:
    """``{'params', 'flops', 'all_flops', 'train_params', 'train_flops',
    'flops_of', 'input'}`` of ``config``'s model on one ``shape`` image.

    ``flops`` is the figure the tables print: a classifier's conv + fc
    multiply-adds, a detector's every operator in ``extract_feat``;
    ``all_flops`` counts every operator. ``shape`` is padded as the
    model's data preprocessor pads (``pad_size_divisor``; HRNet's 800 x
    1333 runs as 800 x 1344)."""
    cfg = Config.fromfile(config)
    model = build_model(cfg)
    shape = padded(shape, cfg)
    inputs = (torch.rand(1, 3, *shape),)
    classifier = cfg.get('default_scope') == 'mmpretrain'
    wrap = ClassifierLogits if classifier else FeatureExtractor

    def figure(counts):
        return counts.macs if classifier else counts.flops

    train = count(model, inputs, wrap(model))
    deploy = train
    if switch_model_to_deploy(model):  # in place; CPWC has one form
        deploy = count(model, inputs, wrap(model))
    return dict(
        params=deploy.params,
        flops=figure(deploy),
        all_flops=deploy.flops,
        train_params=train.params,
        train_flops=figure(train),
        flops_of='conv + fc multiply-adds of the logits'
        if classifier
        else 'multiply-adds of extract_feat (backbone + neck)',
        input=list(shape),
    )


def cached_census(config: str, shape: Tuple[int, int], path: str) -> Dict:
    """:func:`model_census`, read from ``path`` when it was counted before
    for the same config and shape, else counted and written there."""
    if os.path.isfile(path):
        try:
            with open(path) as f:
                cached = json.load(f)
        except (OSError, ValueError):
            cached = {}
        if (
            cached.get('config') == os.path.realpath(config)
            and cached.get('asked') == list(shape)  # before padding
            and 'train_params' in cached  # counted by this version
        ):
            return cached
    result = dict(
        config=os.path.realpath(config),
        asked=list(shape),
        **model_census(config, shape),
    )
    atomic_write(json.dumps(result, indent=1), path)
    return result


def match_figure(value: int, figure: str) -> str:
    """Compare an exact count with a figure as a paper prints it.

    Args:
        value (int): our exact count.
        figure (str): e.g. ``'25.56M'``, ``'0.30G'``, ``'387M'``.

    Returns:
        str: ``'yes'`` when ``value`` rounded (half up) to the figure's last
        digit gives the figure, ``'yes, truncated'`` when only cutting the
        digits beyond it does (the paper does both), ``'-'`` for no figure,
        else ``'no (xR)'`` with R = value / figure.
    """
    if not figure:
        return '-'
    scale = {'K': 10**3, 'M': 10**6, 'G': 10**9}[figure[-1]]
    printed = Decimal(figure[:-1])
    scaled = Decimal(value) / scale
    if scaled.quantize(printed, rounding=ROUND_HALF_UP) == printed:
        return 'yes'
    if scaled.quantize(printed, rounding=ROUND_DOWN) == printed:
        return 'yes, truncated'
    return f'no (x{scaled / printed:.3f})'


class CensusRow(NamedTuple):
    """One paper row next to our exact counts.

    Attributes:
        key (str): the row's key.
        name (str): the row's name.
        paper_params (str): Params as the paper prints them.
        params (int): our exact parameter count.
        paper_flops (str): FLOPs as the paper prints them.
        flops (int, optional): our FLOPs of the paper's kind (a classifier's
            conv + fc multiply-adds), None when not counted.
        all_flops (int, optional): every operator FlopAnalyzer counts (BN
            and pooling too).
        note (str): why the row differs from the paper, where it does.
    """

    key: str
    name: str
    paper_params: str
    params: int
    paper_flops: str
    flops: Optional[int]
    all_flops: Optional[int]
    note: str

    @property
    def params_match(self) -> str:
        return match_figure(self.params, self.paper_params)

    @property
    def flops_match(self) -> str:
        if self.flops is None:
            return '-'
        return match_figure(self.flops, self.paper_flops)


def table_census(
    table: Table,
    root: str,
    with_flops: bool = True,
    keys: Optional[Sequence[str]] = None,
) -> List[CensusRow]:
    """Count every row of ``table`` (its pretraining config for a
    classification table, its detector for a detection table).

    Args:
        table (Table): a table of ``tables.TABLES``.
        root (str): the repository (the configs' paths are relative to it).
        with_flops (bool): count FLOPs too (seconds per model on a CPU).
        keys (Sequence[str], optional): only these rows.
    """
    rows = []
    for row in table.rows:
        if keys is not None and row.key not in keys:
            continue
        config = os.path.join(root, row.detect or row.pretrain)
        if with_flops:
            counts = model_census(config, table.census_shape)
            params, flops = counts['params'], counts['flops']
            all_flops = counts['all_flops']
        else:
            params, flops = count_config_params(config), None
            all_flops = None
        rows.append(
            CensusRow(
                row.key,
                row.name,
                row.paper_params,
                params,
                row.paper_flops,
                flops,
                all_flops,
                row.note,
            )
        )
    return rows


def count_config_params(config: str) -> int:
    """The parameters of ``config``'s model (deploy form), fast."""
    model = build_model(Config.fromfile(config))
    switch_model_to_deploy(model)
    return sum(p.numel() for p in model.parameters())


def format_census(table: Table, rows: Sequence[CensusRow]) -> str:
    """A table's census as text: a title, one line per row, and the notes
    of the rows that differ from the paper."""
    h, w = table.census_shape
    what = (
        'conv + fc multiply-adds'
        if table.kind == 'classification'
        else 'multiply-adds of extract_feat'
    )
    lines = [
        f'{table.title}: input {h}x{w}; FLOPs = {what}, all ops adds BN '
        'and pooling (mmengine FlopAnalyzer)',
        format_table(
            [
                'row',
                'paper params',
                'params',
                'match',
                'paper FLOPs',
                'FLOPs',
                'match',
                'all ops',
            ],
            [
                (
                    r.name,
                    r.paper_params or '-',
                    f'{r.params:,}',
                    r.params_match,
                    r.paper_flops or '-',
                    '-' if r.flops is None else f'{r.flops:,}',
                    r.flops_match,
                    '-' if r.all_flops is None else f'{r.all_flops:,}',
                )
                for r in rows
            ],
        ),
    ]
    notes = [
        f'- {r.name}: {r.note}'
        for r in rows
        if r.note and 'no' in (r.params_match[:2], r.flops_match[:2])
    ]
    if notes:
        lines += ['Rows that differ from the paper:'] + notes
    return '\n'.join(lines)
