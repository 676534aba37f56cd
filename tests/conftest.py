import random

import numpy as np
import pytest
import torch

from tests.toy_data import tiny_toy_set


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory):
    """A tiny toy COCO set (8 train, 4 val images), made once per run."""
    return tiny_toy_set(tmp_path_factory.mktemp('data'))


@torch.no_grad()
def calibrate_then_randomise_norms(model, x):
    """BN running statistics measured on ``x`` (so an untrained deep network
    stays finite in eval mode), then perturbed, with random affines.

    The model must be built with ``norm_eval=False`` so BN updates here."""
    norms = [m for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    model.train()
    model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
        m.running_mean.add_(0.1 * torch.randn_like(m.running_mean) *
                            m.running_var.sqrt())
        m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.5, 2))
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.5, 0.5)
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm) and m.weight is not None:
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
    model.eval()
    return model


def randomise_norms(model):
    """Give every BN / LayerNorm random statistics and affines, so that a
    wrong fusion cannot hide behind mean 0 / var 1 / gamma 1 / beta 0."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
            if isinstance(m, (torch.nn.modules.batchnorm._BatchNorm,
                              torch.nn.LayerNorm)) and m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model
