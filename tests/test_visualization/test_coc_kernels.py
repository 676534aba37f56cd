"""cpwc_mmdet.visualization.coc_kernels: what the kernel figure shows of a
CoC layer is the layer's own image, super kernel and weight, tile by tile."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from cpwc_mmdet.layers import CoCConv2d
from cpwc_mmdet.utils.errors import UserInputError
from cpwc_mmdet.visualization import (
    coc_kernel_views,
    coc_layer_names,
    is_coc_layer,
    plot_coc_kernels,
    tiled_kernels,
)
from tests.helpers import randomise_norms


def test_views_are_the_layers_tiles():
    layer = randomise_norms(CoCConv2d(6, 18, 3, padding=1))  # groups 0..4
    views = coc_kernel_views(layer, [1, 4], in_channel=2)
    assert (views.sa, views.k, views.groups) == (2, 3, [1, 4])
    weight = layer.deploy_weight().detach()
    # derived tile (r, c) of group g is kernel 4 g + 2 r + c, input channel 2
    for row, group in enumerate(views.groups):
        for j in range(4):
            kernel = 4 * group + j
            tile = views.derived[row][
                j // 2 * 3 : j // 2 * 3 + 3, j % 2 * 3 : j % 2 * 3 + 3
            ]
            if kernel < 18:
                np.testing.assert_allclose(
                    tile, weight[kernel, 2].double().numpy(), rtol=1e-6
                )
            else:  # 18 kernels pad group 4 with two empty tiles
                assert not tile.any()
    np.testing.assert_array_equal(
        views.image, layer.weight_image[2, [1, 4]].detach().double().numpy()
    )
    # the 3x3 super kernel of dilation 2 spans 5x5, its taps 2 apart
    taps = layer.effective_super_kernel()[1, 0].detach().double().numpy()
    assert views.super_kernels.shape == (2, 5, 5)
    np.testing.assert_allclose(views.super_kernels[0][::2, ::2], taps)
    assert np.isnan(views.super_kernels[0][1::2]).all()
    plain = nn.Conv2d(6, 18, 3)
    np.testing.assert_array_equal(
        tiled_kernels(plain.weight, 2, [0], 5)[0][:3, 3:],
        plain.weight[1, 5].detach().double().numpy(),
    )


def test_layers_are_found_by_what_they_hold():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        CoCConv2d(8, 8, 3),
        nn.Sequential(CoCConv2d(8, 8, 5)),
    )
    assert coc_layer_names(net) == ['1', '2.0']
    assert not is_coc_layer(net[0])


@pytest.mark.parametrize(
    'groups,channel,message',
    [
        ([5], 0, r'^--groups \[5\]: the layer has groups 0\.\.4$'),
        ([0], 6, r'^--in-channel 6: the layer has input channels 0\.\.5$'),
    ],
)
def test_a_selection_outside_the_layer_is_one_line(groups, channel, message):
    with pytest.raises(UserInputError, match=message):
        coc_kernel_views(CoCConv2d(6, 18, 3), groups, channel)


def test_figure_has_a_row_per_group_and_a_column_per_view():
    layer = CoCConv2d(4, 16, 3, padding=1)
    views = coc_kernel_views(layer, [0, 1, 2])
    plain = tiled_kernels(torch.randn(16, 4, 3, 3), 2, [0, 1, 2], 0)
    fig = plot_coc_kernels(views, plain, 'title', 'ResNet')
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 3 * 4
    titles = [ax.get_title().split('\n')[0] for ax in images if ax.get_title()]
    assert titles == [
        'super kernel',
        'image (learned)',
        'derived kernels',
        'ResNet',
    ]
