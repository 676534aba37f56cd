"""A CoC layer's kernels as the layer makes them (Zhao, Li, Wu,
"Convolution of Convolution: Let Kernels Spatially Collaborate", CVPR
2022), next to a plain conv's.

A CoC conv tiles each group of ``sa * sa`` consecutive output kernels into
an ``sa x sa`` image (kernel ``j`` of a group at tile ``(j // sa, j %
sa)``, ``cpwc_mmdet.ops.coc_layout``), convolves the image by the group's
dilated super kernel, and lays the tiles back as the conv's kernels. The
figure shows, per group and for one input channel: the super kernel as the
super conv applies it (taps spread by its dilation), the learned image, the
derived kernels in the same tiles, and a plain conv's kernels tiled alike.

The layer is read through its attributes (``weight_image``,
``effective_super_kernel()``, ``deploy_weight()``, ``sa``,
``super_dilation``): any module that has them is a CoC layer here.
"""

import textwrap
from typing import List, NamedTuple, Optional, Sequence

import matplotlib
import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure
from torch import Tensor

from ..ops.coc_layout import kernels_to_image
from ..utils.errors import UserInputError

#: the attributes that make a module a CoC layer for this module
COC_ATTRIBUTES = ('weight_image', 'effective_super_kernel', 'deploy_weight')


def is_coc_layer(module: nn.Module) -> bool:
    """Whether ``module`` is a CoC conv (has :data:`COC_ATTRIBUTES`)."""
    return all(hasattr(module, name) for name in COC_ATTRIBUTES)


def coc_layer_names(model: nn.Module) -> List[str]:
    """The names of the CoC layers in ``model``, in module order."""
    return [name for name, m in model.named_modules() if is_coc_layer(m)]


class KernelViews(NamedTuple):
    """What the figure draws of one CoC layer, for one input channel.

    Attributes:
        super_kernels (np.ndarray): ``(G, D, D)``, each shown group's super
            kernel as applied: its taps ``dilation`` apart, NaN between
            (``D = (size - 1) * dilation + 1``).
        image (np.ndarray): ``(G, sa * k, sa * k)``, the learned image.
        derived (np.ndarray): ``(G, sa * k, sa * k)``, the conv's kernels
            (the deploy weight) in the same tiles.
        groups (list[int]): the groups shown.
        sa (int): tiles per side.
        k (int): kernel size.
        in_channel (int): the input channel shown.
    """

    super_kernels: np.ndarray
    image: np.ndarray
    derived: np.ndarray
    groups: List[int]
    sa: int
    k: int
    in_channel: int


def spread_taps(kernel: Tensor, dilation: int) -> np.ndarray:
    """``(S, S)`` taps -> ``((S - 1) * dilation + 1,) * 2`` with NaN
    between the taps: the super kernel's footprint on the image."""
    size = kernel.shape[-1]
    side = (size - 1) * dilation + 1
    out = np.full((side, side), np.nan)
    out[::dilation, ::dilation] = kernel.detach().cpu().double().numpy()
    return out


def check_selection(
    num_groups: int, ci: int, groups: Sequence[int], in_channel: int
) -> List[int]:
    """``groups`` as a list, each in ``[0, num_groups)``, and
    ``in_channel`` in ``[0, ci)``.

    Raises:
        UserInputError: one line naming the value outside its range.
    """
    groups = list(groups)
    bad = [g for g in groups if not 0 <= g < num_groups]
    if bad or not groups:
        raise UserInputError(
            f'--groups {bad or groups}: the layer has groups 0..'
            f'{num_groups - 1}'
        )
    if not 0 <= in_channel < ci:
        raise UserInputError(
            f'--in-channel {in_channel}: the layer has input channels 0..'
            f'{ci - 1}'
        )
    return groups


@torch.no_grad()
def coc_kernel_views(
    layer: nn.Module, groups: Sequence[int], in_channel: int = 0
) -> KernelViews:
    """The super kernels, image and derived kernels of ``layer``.

    Args:
        layer (nn.Module): a CoC conv (:func:`is_coc_layer`).
        groups (Sequence[int]): group indices (kernels ``sa*sa*g`` to
            ``sa*sa*(g+1) - 1``).
        in_channel (int): the input channel (of the layer's group) shown.

    Returns:
        KernelViews: numpy arrays, float64.
    """
    image = layer.weight_image  # (ci, G, sa*k, sa*k)
    ci, num_groups = image.shape[:2]
    groups = check_selection(num_groups, ci, groups, in_channel)
    sa = layer.sa
    derived = kernels_to_image(layer.deploy_weight(), sa)
    kernels = layer.effective_super_kernel()[:, 0]  # (G, S, S)
    return KernelViews(
        super_kernels=np.stack(
            [spread_taps(kernels[g], layer.super_dilation) for g in groups]
        ),
        image=image[in_channel, groups].double().cpu().numpy(),
        derived=derived[in_channel, groups].double().cpu().numpy(),
        groups=groups,
        sa=sa,
        k=image.shape[-1] // sa,
        in_channel=in_channel,
    )


@torch.no_grad()
def tiled_kernels(
    weight: Tensor, sa: int, groups: Sequence[int], in_channel: int
) -> np.ndarray:
    """A plain conv's kernels ``(co, ci, k, k)`` in CoC's tiles:
    ``(len(groups), sa * k, sa * k)`` of ``in_channel``."""
    image = kernels_to_image(weight.detach(), sa)
    return image[in_channel, list(groups)].double().cpu().numpy()


def _draw(ax, data: np.ndarray, limit: float, tile: int = 0) -> object:
    """One panel: ``data`` on a diverging scale ``[-limit, limit]``, NaN
    in grey, lines between ``tile``-sized tiles."""
    cmap = matplotlib.colormaps['RdBu_r'].copy()
    cmap.set_bad('0.85')
    shown = ax.imshow(
        data, cmap=cmap, vmin=-limit, vmax=limit, interpolation='nearest'
    )
    if tile:
        for edge in range(tile, data.shape[0], tile):
            ax.axhline(edge - 0.5, color='black', linewidth=1.2)
            ax.axvline(edge - 0.5, color='black', linewidth=1.2)
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


def plot_coc_kernels(
    views: KernelViews,
    plain: Optional[np.ndarray] = None,
    title: str = '',
    plain_title: str = 'plain conv',
    cell_inches: float = 1.6,
) -> Figure:
    """One row per group: super kernel | image | derived kernels
    [| plain kernels], each column on its own symmetric colour scale.

    Args:
        views (KernelViews): from :func:`coc_kernel_views`.
        plain (np.ndarray, optional): ``(G, sa * k, sa * k)`` from
            :func:`tiled_kernels`, same groups and input channel.
        title (str): the figure's title.
        plain_title (str): the plain column's title.
        cell_inches (float): the side of one panel.

    Returns:
        Figure: a matplotlib figure (not attached to pyplot).
    """
    sa, k = views.sa, views.k
    columns = [
        ('super kernel\n(as applied)', views.super_kernels, 0),
        ('image (learned)', views.image, k),
        (f'derived kernels\n({sa}x{sa} tiles)', views.derived, k),
    ]
    if plain is not None:
        name = '\n'.join(textwrap.wrap(plain_title, 24))
        columns.append((f'{name}\n(same tiles)', plain, k))
    rows = len(views.groups)
    fig = Figure(
        figsize=(cell_inches * len(columns) + 0.4, cell_inches * rows + 1.6),
        layout='constrained',
    )
    axes = fig.subplots(rows, len(columns), squeeze=False)
    for col, (name, data, tile) in enumerate(columns):
        limit = float(np.nanmax(np.abs(data))) or 1.0
        for row, group in enumerate(views.groups):
            ax = axes[row, col]
            shown = _draw(ax, data[row], limit, tile)
            if row == 0:
                ax.set_title(f'{name}\n|max| {limit:.3g}', fontsize=7)
            if col == 0:
                first = group * sa * sa
                ax.set_ylabel(
                    f'group {group}\nkernels {first}-{first + sa * sa - 1}',
                    fontsize=7,
                )
        bar = fig.colorbar(
            shown, ax=list(axes[:, col]), location='bottom', aspect=12
        )
        bar.ax.tick_params(labelsize=6)
    fig.suptitle(f'{title}\ninput channel {views.in_channel}', fontsize=8)
    return fig
