"""Parameter and FLOP census, and CPWC's Tables 1 and 2.

FLOPs are counted by mmengine's ``FlopAnalyzer`` (fvcore-style: one
multiply-add counts as one FLOP). For the paper tables the census reports
the multiply-adds of the conv and linear layers ("MACs"): the figures the
papers print are of that kind (MobileNetV2's 300M is its conv + fc
multiply-adds), while the analyzer's total also counts BN and pooling.
"""

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.registry import MODELS
from torch import Tensor

from .paper_tables import PaperRow, PaperTable

#: FlopAnalyzer operators whose count is the multiply-adds of weight layers
WEIGHT_OPS = ('conv', 'linear')


class FeatureExtractor(nn.Module):
    """A detector's ``extract_feat`` (backbone + neck) as a module's forward,
    so the FLOP counter can trace it; other models are called as they are."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor):
        extract = getattr(self.model, 'extract_feat', self.model)
        return extract(x)


class ClassifierLogits(nn.Module):
    """An mmpretrain classifier's logits as a module's forward:
    ``(N, 3, H, W) -> (N, num_classes)`` (backbone, neck, head fc)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(x, mode='tensor')


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``model``."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def flops_by_operator(
    model: nn.Module, inputs: Sequence[Tensor]
) -> Dict[str, int]:
    """FlopAnalyzer's count of one forward of ``model`` on ``inputs``, per
    operator (``'conv'``, ``'linear'``, ``'batch_norm'``, ...)."""
    was_training = model.training
    model.eval()
    analyzer = FlopAnalyzer(model, tuple(inputs))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    counts = {op: int(n) for op, n in analyzer.by_operator().items()}
    model.train(was_training)
    return counts


def count_flops(model: nn.Module, inputs: Sequence[Tensor]) -> int:
    """Multiply-adds of one forward of ``model`` on ``inputs``, every
    operator FlopAnalyzer counts (BN and pooling included)."""
    return sum(flops_by_operator(model, inputs).values())


def classifier_config(row: PaperRow, table: PaperTable) -> dict:
    """mmpretrain's ``ImageClassifier`` around ``row.backbone``: global
    average pooling and a ``table.num_classes``-way linear head."""
    return dict(
        type='ImageClassifier',
        _scope_='mmpretrain',
        backbone=row.backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=table.num_classes,
            in_channels=row.feat_channels,
        ),
    )


def build_classifier(row: PaperRow, table: PaperTable) -> nn.Module:
    """Build a paper row's classifier through the registries (the caller
    has imported ``cpwc_mmdet``, which registers the backbones)."""
    return MODELS.build(classifier_config(row, table))


def match_figure(value: int, figure: str) -> str:
    """Compare an exact count with a figure as a paper prints it.

    Args:
        value (int): our exact count.
        figure (str): e.g. ``'25.56M'``, ``'0.30G'``, ``'387M'``.

    Returns:
        str: ``'yes'`` when ``value`` rounded (half up) to the figure's last
        digit gives the figure, ``'yes, truncated'`` when only cutting the
        digits beyond it does (the paper does both), else ``'no (xR)'`` with
        R = value / figure.
    """
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
        name (str): the row's name.
        paper_params (str): Params as the paper prints them.
        params (int): our exact parameter count.
        paper_flops (str): FLOPs as the paper prints them.
        macs (int, optional): conv + linear multiply-adds at the table's
            resolution (None when not counted).
        flops (int, optional): FlopAnalyzer's total (BN, pooling included).
        note (str): why the row differs from the paper, where it does.
    """

    name: str
    paper_params: str
    params: int
    paper_flops: str
    macs: Optional[int]
    flops: Optional[int]
    note: str

    @property
    def params_match(self) -> str:
        return match_figure(self.params, self.paper_params)

    @property
    def macs_match(self) -> str:
        if self.macs is None:
            return '-'
        return match_figure(self.macs, self.paper_flops)


def census(
    table: PaperTable,
    with_flops: bool = True,
    names: Optional[Sequence[str]] = None,
) -> List[CensusRow]:
    """Build a paper table's classifiers and count them.

    Args:
        table (PaperTable): ``paper_tables.TABLE1`` or ``TABLE2``.
        with_flops (bool): count FLOPs too (seconds per model on a CPU).
        names (Sequence[str], optional): only these rows.

    Returns:
        list[CensusRow]: one per row, in the table's order.
    """
    size = table.input_size
    rows = []
    for row in table.rows:
        if names is not None and row.name not in names:
            continue
        model = build_classifier(row, table)
        macs = flops = None
        if with_flops:
            ops = flops_by_operator(
                ClassifierLogits(model), (torch.rand(1, 3, size, size),)
            )
            macs = sum(ops.get(op, 0) for op in WEIGHT_OPS)
            flops = sum(ops.values())
        rows.append(
            CensusRow(
                row.name,
                row.paper_params,
                count_params(model),
                row.paper_flops,
                macs,
                flops,
                row.note,
            )
        )
    return rows


def format_census(table: PaperTable, rows: Sequence[CensusRow]) -> str:
    """A paper table's census as text: a title, one line per row, and the
    notes of the rows that differ from the paper."""
    size, classes = table.input_size, table.num_classes
    lines = [
        f'{table.title}: {size}x{size}, {classes}-class fc; MACs = conv + '
        f'fc multiply-adds, all ops adds BN and pooling (mmengine '
        f'FlopAnalyzer)',
        format_table(
            [
                'row',
                'paper params',
                'params',
                'match',
                'paper FLOPs',
                'MACs',
                'match',
                'all ops',
            ],
            [
                (
                    r.name,
                    r.paper_params,
                    f'{r.params:,}',
                    r.params_match,
                    r.paper_flops,
                    '-' if r.macs is None else f'{r.macs:,}',
                    r.macs_match,
                    '-' if r.flops is None else f'{r.flops:,}',
                )
                for r in rows
            ],
        ),
    ]
    notes = [
        f'- {r.name}: {r.note}'
        for r in rows
        if r.note and 'no' in (r.params_match[:2], r.macs_match[:2])
    ]
    if notes:
        lines += ['Rows that differ from the paper:'] + notes
    return '\n'.join(lines)


def format_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain, aligned text table (markdown-compatible)."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        '| ' + ' | '.join(c.ljust(w) for c, w in zip(row, widths)) + ' |'
        for row in cells
    ]
    lines.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    return '\n'.join(lines)
