"""Recalibrate BN statistics after CoC (orth) was inflated from a plain
checkpoint, before the first training iteration."""

from typing import Callable, Iterable, List

import torch
from mmdet.registry import HOOKS
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.hooks import Hook
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from ..utils.model_wrappers import bare_model


@torch.no_grad()
def recalibrate_norms(
    model: nn.Module, forward: Callable[[object], object], batches: Iterable
) -> List[_BatchNorm]:
    """Recompute the running mean and variance of ``model``'s BN layers.

    Every BN layer's statistics are reset and accumulated (equal weight per
    batch, ``momentum=None``) over ``forward(batch)`` for each batch, with
    the BN layers in training mode and everything else in eval mode; the
    affine parameters are untouched. Layers ``forward`` never runs keep
    their statistics. Modes and momenta are restored afterwards.

    Args:
        model (nn.Module): holds the BN layers.
        forward (callable): runs (part of) ``model`` on one batch.
        batches (iterable): what ``forward`` takes.

    Returns:
        list[_BatchNorm]: the recalibrated layers.
    """
    modes = {m: m.training for m in model.modules()}
    norms = [
        m
        for m in model.modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats
    ]
    saved = [
        (
            m.momentum,
            m.running_mean.clone(),
            m.running_var.clone(),
            m.num_batches_tracked.clone(),
        )
        for m in norms
    ]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        for batch in batches:
            forward(batch)
    finally:
        for m, (momentum, mean, var, tracked) in zip(norms, saved):
            m.momentum = momentum
            if m.num_batches_tracked.item() == 0:  # not run: as it was
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(tracked)
        for m, training in modes.items():
            m.training = training
    return [m for m in norms if m.num_batches_tracked.item() > 0]


def inflated_layers(model: nn.Module) -> List[str]:
    """Names of the layers a plain weight was inflated into, approximately
    (``CoCConv2d`` with ``orth=True``)."""
    return [
        name
        for name, m in model.named_modules()
        if getattr(m, 'inflated_from_plain', False)
    ]


@HOOKS.register_module()
class NormRecalibrationHook(Hook):
    """Fit the BN statistics to CoC convs inflated with ``orth=True``.

    A plain conv inflated into ``CoCConv2d(orth=True)`` has each filter
    standardised, so the BN statistics after it (from the plain network,
    often frozen by ``norm_eval=True``) no longer fit and activations
    explode (ResNet-50: ~1e5, HRNet-W18: inf, with trained-like filters).
    Before the first iteration this hook recomputes every BN layer's running
    statistics that the feature extractor (``extract_feat``) runs, on
    ``num_batches`` batches of the training set (each rank its own images,
    averaged over ranks), without gradients; BN affines and all weights are
    unchanged. It does nothing unless such an inflation happened (not on
    resume, not for ``orth=False``, which inflates exactly). tools/train.py
    adds it.

    Args:
        num_batches (int): batches (of the training batch size) per rank.
            Defaults to 20.
    """

    priority = 'NORMAL'

    def __init__(self, num_batches: int = 20) -> None:
        self.num_batches = num_batches

    def before_train(self, runner) -> None:
        model = bare_model(runner.model)
        inflated = inflated_layers(model)
        if not inflated:
            return
        loader = runner.train_dataloader
        batches = self._batches(loader)
        extract = getattr(model, 'extract_feat', None) or (
            lambda inputs: model(inputs, mode='tensor')
        )

        def forward(batch):
            extract(model.data_preprocessor(batch, False)['inputs'])

        norms = recalibrate_norms(model, forward, batches)
        if get_world_size() > 1:
            for m in norms:
                all_reduce(m.running_mean, op='mean')
                all_reduce(m.running_var, op='mean')
        for name in inflated:
            model.get_submodule(name).inflated_from_plain = False
        runner.logger.info(
            f'NormRecalibrationHook: {len(inflated)} convs were inflated '
            f'from a plain checkpoint into CoC with orth=True; recalibrated '
            f'the running statistics of {len(norms)} BN layers on '
            f'{len(batches.sampler)} training images per rank'
        )

    def _batches(self, loader) -> DataLoader:
        """``num_batches`` batches of the training set for this rank, read
        in this process (the training iterator is left alone)."""
        rank, world_size = get_rank(), get_world_size()
        dataset = loader.dataset
        count = self.num_batches * loader.batch_size
        indices = [
            i % len(dataset)
            for i in range(rank, count * world_size, world_size)
        ]
        return DataLoader(
            dataset,
            batch_size=loader.batch_size,
            sampler=indices,
            collate_fn=loader.collate_fn,
            num_workers=0,
        )
