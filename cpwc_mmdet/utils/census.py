"""Parameter and FLOP census, and CPWC's Table 2 (ImageNet ResNet-50).

FLOPs are counted by mmengine's ``FlopAnalyzer`` (fvcore-style: one
multiply-add counts as one FLOP, so "FLOPs" here are GMACs).
"""
from typing import List, NamedTuple, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from torch import Tensor


class ImageNetClassifier(nn.Module):
    """backbone -> global average pool -> fc, as the papers' Table 2 models.

    Args:
        backbone (nn.Module): returns a tuple whose last item is
            ``(N, in_features, h, w)``.
        in_features (int): channels of that last feature map.
        num_classes (int): Defaults to 1000.
    """

    def __init__(self, backbone: nn.Module, in_features: int,
                 num_classes: int = 1000) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, 3, H, W) -> (N, num_classes)``."""
        feat = self.backbone(x)[-1]
        return self.fc(feat.mean(dim=(2, 3)))


class FeatureExtractor(nn.Module):
    """A detector's ``extract_feat`` (backbone + neck) as a module's forward,
    so the FLOP counter can trace it; other models are called as they are."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor):
        extract = getattr(self.model, 'extract_feat', self.model)
        return extract(x)


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``model``."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_flops(model: nn.Module, inputs: Sequence[Tensor]) -> int:
    """Multiply-adds of one forward of ``model`` on ``inputs``."""
    was_training = model.training
    model.eval()
    analyzer = FlopAnalyzer(model, tuple(inputs))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    flops = analyzer.total()
    model.train(was_training)
    return int(flops)


class PaperRow(NamedTuple):
    """One row of CPWC's Table 2 next to our measurement."""
    name: str
    paper_params: str
    paper_flops: str
    params: int
    backbone_params: int
    flops: Optional[int]


#: (row name, backbone config, paper Params, paper FLOPs) of Table 2.
TABLE2_ROWS = (
    ('ResNet-50 (baseline)', dict(type='ResNet', depth=50), '25.56M', '4.0G'),
    ('CPWC w/o stage 2', dict(type='CPWCResNet', depth=50,
                              cpwc_cfg=dict(stage2=False)), '25.84M', '4.2G'),
    ('ResNet-50 CPWC', dict(type='CPWCResNet', depth=50), '26.05M', '4.3G'),
)


def table2(input_size: int = 224, with_flops: bool = True) -> List[PaperRow]:
    """Build Table 2's three ImageNet ResNet-50 models and count them.

    Args:
        input_size (int): square input side for FLOPs. Defaults to 224.
        with_flops (bool): count FLOPs too (a few seconds each on a CPU).

    Returns:
        list[PaperRow]: baseline, w/o stage 2, CPWC.
    """
    from mmdet.registry import MODELS
    rows = []
    for name, cfg, paper_params, paper_flops in TABLE2_ROWS:
        backbone = MODELS.build(dict(cfg, out_indices=(3, )))
        model = ImageNetClassifier(backbone, 2048)
        flops = count_flops(model, (torch.rand(1, 3, input_size,
                                               input_size), )) \
            if with_flops else None
        rows.append(
            PaperRow(name, paper_params, paper_flops, count_params(model),
                     count_params(backbone), flops))
    return rows


def format_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain, aligned text table (markdown-compatible)."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ['| ' + ' | '.join(c.ljust(w) for c, w in zip(row, widths)) + ' |'
             for row in cells]
    lines.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    return '\n'.join(lines)
