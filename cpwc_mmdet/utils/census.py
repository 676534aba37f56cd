"""Params and FLOPs of a model: the one count the tools, the tables and
the metafiles use.

FLOPs are counted by mmengine's ``FlopAnalyzer`` (fvcore-style: one
multiply-add counts as one FLOP), per operator, so a caller can keep only
the conv and linear layers' multiply-adds ("MACs", the kind of figure the
papers print: MobileNetV2's 300M is its conv + fc multiply-adds), or every
operator (BN and pooling included).
"""

from typing import Dict, NamedTuple, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from torch import Tensor

#: FlopAnalyzer operators whose count is the multiply-adds of weight layers
WEIGHT_OPS = ('conv', 'linear')


class Counts(NamedTuple):
    """A model's parameters and the FLOPs of one forward, per operator."""

    params: int
    by_operator: Dict[str, int]

    @property
    def flops(self) -> int:
        """Every operator's multiply-adds (BN and pooling included)."""
        return sum(self.by_operator.values())

    @property
    def macs(self) -> int:
        """The conv and linear layers' multiply-adds (:data:`WEIGHT_OPS`)."""
        return sum(self.by_operator.get(op, 0) for op in WEIGHT_OPS)


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
    operator (``'conv'``, ``'linear'``, ``'batch_norm'``, ...), in eval
    mode (the model's mode is restored)."""
    was_training = model.training
    model.eval()
    analyzer = FlopAnalyzer(model, tuple(inputs))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    counts = {op: int(n) for op, n in analyzer.by_operator().items()}
    model.train(was_training)
    return counts


def count(
    model: nn.Module,
    inputs: Sequence[Tensor],
    forward: Optional[nn.Module] = None,
) -> Counts:
    """``model``'s parameters, and the FLOPs of ``forward`` (default: the
    model) on ``inputs``, per operator.

    Args:
        model (nn.Module): whose parameters are counted.
        inputs (Sequence[Tensor]): one forward's inputs.
        forward (nn.Module, optional): what runs, e.g.
            ``FeatureExtractor(model)``; ``None``: ``model`` itself.

    Returns:
        Counts: ``params``, ``by_operator`` (and ``flops``, ``macs``).
    """
    ops = flops_by_operator(model if forward is None else forward, inputs)
    return Counts(count_params(model), ops)
