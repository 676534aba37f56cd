"""The effective receptive field of a backbone's output (Luo, Li, Urtasun,
Zemel, "Understanding the Effective Receptive Field in Deep Convolutional
Neural Networks", NeurIPS 2016).

The ERF of one output unit is the gradient of its response with respect to
the input: here the response is the sum over channels of one output level
at its centre pixel, and the map is the gradient's absolute value summed
over the input channels, averaged over images. Its size is given as radii:
half the side of the smallest square, centred on the map's centroid, that
holds a fraction of the map's total. (The centroid is where the unit looks:
a ResNet's unit ``i`` of stride ``s`` is centred on input pixel ``i * s``,
not on the middle of its ``s x s`` cell.)
"""

import os
from typing import Dict, List, NamedTuple, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from ..utils.errors import UserInputError

#: the fractions of the total gradient whose radius is reported
FRACTIONS = (0.2, 0.5, 0.9, 0.99)
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')


class ERF(NamedTuple):
    """The effective receptive field of one output unit.

    Attributes:
        grad (np.ndarray): ``(H, W)`` float64, the mean over images of
            ``|d response / d input|`` summed over the input channels.
        centre (tuple[float, float]): ``(y, x)``, the map's centroid in
            input pixels (the image's centre if the map is all zero).
        out_shape (tuple[int, int]): ``(h, w)`` of the output level.
        num_images (int): images averaged.
    """

    grad: np.ndarray
    centre: Tuple[float, float]
    out_shape: Tuple[int, int]
    num_images: int


def read_images(folder: str, limit: int) -> List[np.ndarray]:
    """The first ``limit`` images of ``folder`` (sorted names), BGR uint8
    ``(H, W, 3)`` arrays as ``cv2.imread`` gives them.

    Raises:
        UserInputError: no such folder, no image in it, or one unreadable.
    """
    if not os.path.isdir(folder):
        raise UserInputError(f'--images {folder} is not a folder')
    names = sorted(
        n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS)
    )[:limit]
    if not names:
        raise UserInputError(
            f'--images {folder} holds no image ({", ".join(IMAGE_EXTENSIONS)})'
        )
    images = []
    for name in names:
        image = cv2.imread(os.path.join(folder, name), cv2.IMREAD_COLOR)
        if image is None:
            raise UserInputError(
                f'{os.path.join(folder, name)} is not a readable image'
            )
        images.append(image)
    return images


def image_batch(
    images: Sequence[np.ndarray],
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    to_rgb: bool,
) -> Tensor:
    """Images resized to ``size x size`` and normalised as a model's data
    preprocessor does: ``(N, 3, size, size)`` float32."""
    batch = []
    for image in images:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
        if to_rgb:
            image = image[..., ::-1]
        batch.append(torch.from_numpy(np.ascontiguousarray(image)))
    x = torch.stack(batch).permute(0, 3, 1, 2).float()
    mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - mean) / std


def select_level(outputs, level: int) -> Tensor:
    """Output ``level`` (an index into the backbone's outputs, negative
    from the end) of a backbone that returns a tensor or a sequence.

    Raises:
        UserInputError: no such level.
    """
    if torch.is_tensor(outputs):
        outputs = (outputs,)
    outputs = [o for o in outputs if torch.is_tensor(o) and o.dim() == 4]
    if not -len(outputs) <= level < len(outputs):
        raise UserInputError(
            f"--level {level} is outside the backbone's {len(outputs)} "
            f'outputs (0..{len(outputs) - 1}, or negative from the end)'
        )
    return outputs[level]


def effective_receptive_field(
    backbone: nn.Module, images: Tensor, level: int = -1, chunk: int = 4
) -> ERF:
    """The ERF of the centre unit of one output level of ``backbone``.

    Args:
        backbone (nn.Module): in eval mode; returns a ``(N, C, h, w)``
            tensor or a sequence of them.
        images (Tensor): ``(N, 3, H, W)``, normalised as the model takes
            them.
        level (int): which output (default: the last).
        chunk (int): images per backward pass (the images are independent
            in eval mode, so a chunk's gradients are each image's own).

    Returns:
        ERF: the map averaged over the ``N`` images.
    """
    total, out_shape = None, None
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].clone().requires_grad_(True)
        with torch.enable_grad():
            out = select_level(backbone(x), level)
            h, w = out.shape[-2:]
            response = out[:, :, h // 2, w // 2].sum()
            (grad,) = torch.autograd.grad(response, x)
        grad = grad.abs().sum(dim=1).sum(dim=0).double()
        total = grad if total is None else total + grad
        out_shape = (h, w)
    grad = (total / len(images)).numpy()
    return ERF(grad, centroid(grad), out_shape, len(images))


def centroid(grad: np.ndarray) -> Tuple[float, float]:
    """``(y, x)`` of the mass centre of a non-negative ``(H, W)`` map; the
    image's centre if the map is all zero."""
    height, width = grad.shape
    total = grad.sum()
    if total <= 0:
        return ((height - 1) / 2, (width - 1) / 2)
    ys, xs = np.mgrid[:height, :width]
    return (float((grad * ys).sum() / total), float((grad * xs).sum() / total))


def square_radii(
    erf: ERF, fractions: Sequence[float] = FRACTIONS
) -> List[float]:
    """Half the side, in input pixels, of the smallest square centred on
    the ERF's centre that holds each fraction of its total.

    A pixel at Chebyshev distance ``d`` from the centre lies in the square
    of half-side ``d + 0.5``; the square is cut by the image's border, so a
    radius at the border means the ERF reaches past the image.

    Returns:
        list[float]: one radius per fraction (0 if the map is all zero).
    """
    height, width = erf.grad.shape
    ys, xs = np.mgrid[:height, :width]
    dist = np.maximum(np.abs(ys - erf.centre[0]), np.abs(xs - erf.centre[1]))
    order = np.argsort(dist, axis=None, kind='stable')
    mass = np.cumsum(erf.grad.reshape(-1)[order])
    if mass[-1] <= 0:
        return [0.0 for _ in fractions]
    dist = dist.reshape(-1)[order]
    radii = []
    for fraction in fractions:
        index = int(np.searchsorted(mass, fraction * mass[-1]))
        radii.append(float(dist[min(index, len(dist) - 1)] + 0.5))
    return radii


def border_radius(erf: ERF) -> float:
    """The largest square radius that stays inside the image."""
    height, width = erf.grad.shape
    cy, cx = erf.centre
    return float(min(cy, cx, height - 1 - cy, width - 1 - cx) + 0.5)


#: colours of the squares drawn for FRACTIONS (and more)
SQUARE_COLOURS = ('white', 'cyan', 'lime', 'magenta', 'yellow', 'orange')


def view_half_side(erfs: Sequence[ERF], fractions: Sequence[float]) -> float:
    """Half the side of the window the panels show, in input pixels: 1.5
    times the largest radius of the largest fraction (at least 16), within
    the largest image."""
    largest = max(square_radii(erf, fractions)[-1] for erf in erfs)
    image_half = max(max(erf.grad.shape) for erf in erfs) / 2
    return min(max(1.5 * largest, 16.0), image_half)


def plot_erf(
    erfs: Dict[str, ERF],
    fractions: Sequence[float] = FRACTIONS,
    decades: float = 3.0,
    panel_inches: float = 3.6,
) -> Figure:
    """The ERFs side by side, one panel each, with their squares.

    Each map is divided by its own maximum and drawn on a log scale over
    ``decades`` decades (Luo et al.'s maps are near-Gaussian: a linear scale
    shows only the peak); the squares holding ``fractions`` of the total
    are outlined and their radii listed. Every panel shows the same window
    around its centre (:func:`view_half_side`), axes in input pixels.

    Args:
        erfs (dict[str, ERF]): panel title -> ERF.
        fractions (Sequence[float]): fractions to outline.
        decades (float): colour range below the maximum.
        panel_inches (float): width of one panel.

    Returns:
        Figure: a matplotlib figure (not attached to pyplot).
    """
    fig = Figure(
        figsize=(panel_inches * len(erfs) + 0.8, panel_inches + 0.9),
        layout='constrained',
    )
    axes = fig.subplots(1, len(erfs), squeeze=False)[0]
    norm = LogNorm(vmin=10**-decades, vmax=1.0)
    half = view_half_side(list(erfs.values()), fractions)
    image = None
    for ax, (title, erf) in zip(axes, erfs.items()):
        peak = erf.grad.max()
        shown = erf.grad / peak if peak > 0 else erf.grad
        image = ax.imshow(
            np.clip(shown, 10**-decades, 1.0),
            cmap='inferno',
            norm=norm,
            interpolation='nearest',
        )
        cy, cx = erf.centre
        lines = []
        for i, (fraction, radius) in enumerate(
            zip(fractions, square_radii(erf, fractions))
        ):
            colour = SQUARE_COLOURS[i % len(SQUARE_COLOURS)]
            ax.add_patch(
                _square(cy, cx, radius, colour, linestyle='--', linewidth=1)
            )
            lines.append(f'{fraction:.0%}: r={radius:.1f}')
            ax.plot([], [], color=colour, linestyle='--', label=lines[-1])
        ax.legend(
            loc='lower left', fontsize=7, framealpha=0.6, handlelength=1.5
        )
        h, w = erf.out_shape
        height, width = erf.grad.shape
        ax.set_title(
            f'{title}\nunit ({h // 2}, {w // 2}) of a {h}x{w} output; '
            f'{erf.num_images} images of {height}x{width}',
            fontsize=8,
        )
        ax.set_xlim(cx - half, cx + half)
        ax.set_ylim(cy + half, cy - half)
        ax.tick_params(labelsize=7)
    colorbar = fig.colorbar(image, ax=list(axes), shrink=0.8, pad=0.02)
    colorbar.set_label('|gradient| / max', fontsize=8)
    colorbar.ax.tick_params(labelsize=7)
    return fig


def _square(cy: float, cx: float, radius: float, colour: str, **kwargs):
    """A square patch of half-side ``radius`` around pixel ``(cy, cx)``
    (pixel ``i`` covers ``[i - 0.5, i + 0.5]`` in ``imshow``)."""
    return Rectangle(
        (cx - radius, cy - radius),
        2 * radius,
        2 * radius,
        fill=False,
        edgecolor=colour,
        **kwargs,
    )
