"""Start CoC's per-filter LayerNorm ("orth") from a plain conv's weight.

The orth weight is ``gamma * LN(w_f) + beta``: each filter ``w_f`` over
``(ci, k, k)`` standardised, then one elementwise affine shared by all
filters. A plain weight ``w_f = s_f * z_f + m_f`` (``z_f`` standardised) is
reproduced exactly when every filter has the same scale ``s_f`` and mean
``m_f`` (then ``gamma = s``, ``beta = m``); otherwise no shared affine can
give each filter its own scale and mean back, and the layer computes a
different function. :func:`fit_shared_affine` gives the closest one in the
least-squares sense.
"""

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def standardise_filters(weight: Tensor, eps: float) -> Tensor:
    """What the orth LayerNorm (without its affine) makes of ``weight``.

    Args:
        weight (Tensor): ``(co, ci, k, k)``.
        eps (float): the LayerNorm's eps.

    Returns:
        Tensor: ``(co, ci, k, k)``, each filter with mean 0 and variance
        ``var / (var + eps)``.
    """
    return F.layer_norm(weight, weight.shape[1:], eps=eps)


@torch.no_grad()
def fit_shared_affine(weight: Tensor, eps: float) -> Tuple[Tensor, Tensor]:
    """The orth LayerNorm affine closest to reproducing ``weight``.

    For each position ``p`` of ``(ci, k, k)``, ``gamma_p`` and ``beta_p``
    minimise ``sum_f (gamma_p * z_fp + beta_p - w_fp) ** 2`` over the
    filters ``f`` (a linear regression across filters), ``z`` being the
    standardised filters. Exact when all filters share one scale and one
    mean, and for a single filter (``beta`` alone reproduces it); positions
    where all filters standardise to the same value take the slope fitted
    over all positions at once.

    Args:
        weight (Tensor): the plain conv's ``(co, ci, k, k)``.
        eps (float): the LayerNorm's eps.

    Returns:
        tuple[Tensor, Tensor]: ``gamma`` and ``beta``, each ``(ci, k, k)``.
    """
    w = weight.double().flatten(1)  # (co, P)
    z = standardise_filters(weight.double(), eps).flatten(1)
    z_dev, w_dev = z - z.mean(0), w - w.mean(0)
    spread = z_dev.square().sum(0)
    overall = (
        (z_dev * w_dev).sum() / spread.sum()
        if spread.sum() > 0
        else w.std(1, unbiased=False).mean()
    )
    degenerate = spread <= 1e-12 * spread.max().clamp_min(1e-300)
    gamma = torch.where(
        degenerate, overall, (z_dev * w_dev).sum(0) / spread.clamp_min(1e-300)
    )
    beta = w.mean(0) - gamma * z.mean(0)
    shape = weight.shape[1:]
    return (
        gamma.view(shape).to(weight.dtype),
        beta.view(shape).to(weight.dtype),
    )
