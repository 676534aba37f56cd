"""The CIFAR backbones of CPWC Table 1, registered in mmpretrain's MODELS:
PreActResNetCIFAR (ResNet-164 / 200), ResNeXtCIFAR (ResNeXt-29) and
MobileNetV2CIFAR."""

import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from cpwc_mmdet.conversion import is_pointwise
from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.utils.census import count_params


def output_shapes(model, size=32, batch=2):
    model.eval()  # mmpretrain's train() returns None, so not chained
    with torch.no_grad():
        outs = model(torch.rand(batch, 3, size, size))
    return [tuple(o.shape) for o in outs]


def classifier_params(backbone, feat_channels, num_classes):
    """Params of the backbone plus a ``num_classes``-way fc on it."""
    return count_params(backbone) + (feat_channels + 1) * num_classes


def preact_params(depth, num_classes, widths=(16, 32, 64), expansion=4):
    """He et al.'s pre-activation bottleneck ResNet for CIFAR, counted from
    its description: 3x3 stem (no norm); per block BN-conv1x1, BN-conv3x3,
    BN-conv1x1, a 1x1 projection (no norm) where the shape changes; a final
    BN and the fc."""
    blocks = (depth - 2) // 9
    count, channels = 3 * 16 * 9, 16
    for width in widths:
        out = width * expansion
        for i in range(blocks):
            count += (
                2 * channels
                + channels * width
                + 2 * width
                + 9 * width * width
                + 2 * width
                + width * out
            )
            if i == 0:
                count += channels * out
            channels = out
    return count + 2 * channels + (channels + 1) * num_classes


@pytest.mark.parametrize('depth', [164, 200])
def test_preact_resnet_follows_its_description(depth):
    model = MODELS.build(
        dict(type='mmpretrain.PreActResNetCIFAR', depth=depth)
    )
    assert len(model.layer1) == len(model.layer3) == (depth - 2) // 9
    assert classifier_params(model, 256, 100) == preact_params(depth, 100)
    # He et al. print 1.7M for ResNet-164 (CIFAR-10)
    if depth == 164:
        assert round(classifier_params(model, 256, 10) / 1e4) == 170


def test_preact_resnet_shapes_and_final_norm():
    model = MODELS.build(
        dict(
            type='mmpretrain.PreActResNetCIFAR',
            depth=20,
            out_indices=(0, 1, 2),
        )
    )
    assert output_shapes(model) == [
        (2, 64, 32, 32),
        (2, 128, 16, 16),
        (2, 256, 8, 8),
    ]
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        last = model(x)[-1]
    assert (last >= 0).all()  # after the final BN-ReLU
    # the stride sits on the 3x3 conv; shortcuts are 1x1 convs, no norm
    first = model.layer2[0]
    assert first.conv2.stride == (2, 2) and first.conv1.stride == (1, 1)
    assert type(first.downsample) is nn.Conv2d
    assert model.layer2[1].downsample is None


@pytest.mark.parametrize('depth', [0, 10, 165])
def test_preact_resnet_rejects_depths(depth):
    with pytest.raises(ValueError, match='9n \\+ 2'):
        MODELS.build(dict(type='mmpretrain.PreActResNetCIFAR', depth=depth))


def test_preact_resnet_frozen_stages_and_norm_eval():
    model = MODELS.build(
        dict(
            type='mmpretrain.PreActResNetCIFAR',
            depth=11,
            frozen_stages=1,
            norm_eval=True,
        )
    )
    model.train()
    frozen = [model.conv1, model.layer1]
    assert not any(p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not any(
        m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d)
    )
    assert model.layer2.training


def test_resnext_is_the_resnext_papers_cifar_model():
    model = MODELS.build(
        dict(type='mmpretrain.ResNeXtCIFAR', depth=29, out_indices=(0, 1, 2))
    )
    assert [m.conv2.groups for m in (model.layer1[0], model.layer3[0])] == [
        8,
        8,
    ]
    assert [
        layer[0].conv2.in_channels
        for layer in (model.layer1, model.layer2, model.layer3)
    ] == [512, 1024, 2048]
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    # the ResNeXt paper (Table 7, CIFAR-10): 8x64d 34.4M, 16x64d 68.1M
    assert round(classifier_params(model, 1024, 10) / 1e5) == 344
    wide = MODELS.build(
        dict(type='mmpretrain.ResNeXtCIFAR', depth=29, groups=16)
    )
    assert int(classifier_params(wide, 1024, 10) / 1e5) == 681


def test_resnext_shapes():
    model = MODELS.build(
        dict(
            type='mmpretrain.ResNeXtCIFAR',
            groups=2,
            width_per_group=4,
            out_indices=(0, 1, 2),
        )
    )
    assert output_shapes(model) == [
        (2, 256, 32, 32),
        (2, 512, 16, 16),
        (2, 1024, 8, 8),
    ]


def test_mobilenet_v2_cifar_strides():
    model = MODELS.build(
        dict(
            type='mmpretrain.MobileNetV2CIFAR', out_indices=(0, 1, 2, 3, 5, 7)
        )
    )
    assert output_shapes(model) == [
        (2, 16, 32, 32),
        (2, 24, 32, 32),
        (2, 32, 32, 32),
        (2, 64, 16, 16),
        (2, 160, 8, 8),
        (2, 1280, 8, 8),
    ]
    imagenet = MODELS.build(
        dict(type='mmpretrain.MobileNetV2', widen_factor=1.2)
    )
    cifar = MODELS.build(
        dict(type='mmpretrain.MobileNetV2CIFAR', widen_factor=1.2)
    )
    assert count_params(cifar) == count_params(imagenet)
    # the ImageNet strides give the ImageNet model back
    same = MODELS.build(
        dict(
            type='mmpretrain.MobileNetV2CIFAR',
            strides=(1, 2, 2, 2, 1, 2, 1),
            stem_stride=2,
        )
    )
    assert output_shapes(same, 64) == [(2, 1280, 2, 2)]


def test_mobilenet_v2_cifar_rejects_strides():
    with pytest.raises(ValueError, match='one stride per stage'):
        MODELS.build(dict(type='mmpretrain.MobileNetV2CIFAR', strides=(1, 2)))


@pytest.mark.parametrize(
    'backbone',
    [
        dict(type='mmpretrain.PreActResNetCIFAR', depth=11),
        dict(type='mmpretrain.ResNeXtCIFAR', groups=2, width_per_group=4),
        dict(type='mmpretrain.MobileNetV2CIFAR'),
    ],
)
def test_cpwc_converts_every_pointwise_conv(backbone):
    plain = MODELS.build(backbone)
    model = MODELS.build(dict(type='mmdet.CPWCBackbone', backbone=backbone))
    assert type(model) is type(plain)
    assert (
        sum(isinstance(m, CPWConv2d) for m in model.modules())
        == sum(is_pointwise(m) for m in plain.modules())
        > 0
    )
    assert output_shapes(model, 16, 1) == output_shapes(plain, 16, 1)
