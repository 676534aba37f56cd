"""cpwc_mmdet.visualization.erf: the effective receptive field's map, its
centre and its radii, against networks whose ERF is known exactly."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from cpwc_mmdet.utils.errors import UserInputError
from cpwc_mmdet.visualization import (
    border_radius,
    effective_receptive_field,
    image_batch,
    plot_erf,
    square_radii,
)
from cpwc_mmdet.visualization.erf import ERF


class Levels(nn.Module):
    """A backbone returning the outputs of its layers as a tuple."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        outs = []
        for layer in self.layers:
            x = layer(x)
            outs.append(x)
        return tuple(outs)


def ones_conv(ci, co, k, stride=1):
    conv = nn.Conv2d(ci, co, k, stride, padding=k // 2, bias=False)
    nn.init.ones_(conv.weight)
    return conv


def test_two_3x3_convs_see_a_5x5_triangle():
    """All-ones weights: the centre unit's gradient is the outer product of
    (1, 2, 3, 2, 1) (the number of paths), times the channels."""
    net = Levels(ones_conv(3, 2, 3), ones_conv(2, 4, 3)).eval()
    erf = effective_receptive_field(net, torch.randn(3, 3, 9, 9), level=1)
    triangle = np.array([1.0, 2, 3, 2, 1])
    expected = np.zeros((9, 9))
    expected[2:7, 2:7] = 3 * 2 * 4 * np.outer(triangle, triangle)
    np.testing.assert_allclose(erf.grad, expected)
    assert erf.centre == (4.0, 4.0)
    assert erf.out_shape == (9, 9) and erf.num_images == 3
    # level 0, one conv: a flat 3x3
    erf0 = effective_receptive_field(net, torch.randn(2, 3, 9, 9), level=0)
    assert (erf0.grad > 0).sum() == 9
    assert square_radii(erf0, [0.1, 0.5, 1.0]) == [0.5, 1.5, 1.5]


def test_radii_of_a_uniform_square():
    """A uniform 9x9 map centred on pixel 4: the square of half-side r+0.5
    holds (2r+1)^2 / 81 of it."""
    erf = ERF(np.ones((9, 9)), (4.0, 4.0), (9, 9), 1)
    # 20% needs 16.2 pixels: 5x5; 50%: 7x7; 90% and 99%: 9x9
    assert square_radii(erf) == [2.5, 3.5, 4.5, 4.5]
    assert border_radius(erf) == 4.5
    delta = np.zeros((9, 9))
    delta[4, 4] = 1
    assert square_radii(ERF(delta, (4.0, 4.0), (9, 9), 1)) == [0.5] * 4


def test_a_strided_unit_is_centred_where_it_looks():
    """A stride-2 3x3 conv's unit i is centred on input pixel 2 i; the
    centre is the map's centroid, not the middle of the unit's cell."""
    net = Levels(ones_conv(1, 1, 3, stride=2)).eval()
    erf = effective_receptive_field(net, torch.randn(1, 1, 8, 8))
    assert erf.out_shape == (4, 4)
    assert erf.centre == (4.0, 4.0)  # unit (2, 2)
    assert sorted(zip(*np.nonzero(erf.grad))) == [
        (y, x) for y in (3, 4, 5) for x in (3, 4, 5)
    ]


def test_a_missing_level_is_one_line():
    net = Levels(ones_conv(3, 2, 3)).eval()
    with pytest.raises(UserInputError, match=r'^--level 1 .* 1 outputs'):
        effective_receptive_field(net, torch.randn(1, 3, 8, 8), level=1)


def test_images_are_resized_and_normalised_as_the_model_takes_them():
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0] = 30  # blue
    bgr[..., 2] = 90  # red
    x = image_batch([bgr], 8, [10, 20, 30], [2, 2, 2], to_rgb=True)
    assert x.shape == (1, 3, 8, 8)
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([40.0, -10, 0]))


def test_the_figure_has_one_panel_per_model():
    grad = np.exp(-((np.mgrid[:33, :33] - 16.0) ** 2).sum(0) / 20)
    erfs = {
        'a': ERF(grad, (16.0, 16.0), (4, 4), 2),
        'b': ERF(grad**2, (16.0, 16.0), (4, 4), 2),
    }
    fig = plot_erf(erfs)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split('\n')[0] for ax in panels] == ['a', 'b']
    legend = [t.get_text() for t in panels[0].get_legend().get_texts()]
    radii = square_radii(erfs['a'])
    assert legend == [
        f'{f}: r={r:.1f}' for f, r in zip(['20%', '50%', '90%', '99%'], radii)
    ]
