"""The layout policy of CPWC backbones (cpwc_mmdet/backbones/
channels_last.py): NCHW input from mmdet still reaches the fused kernel
(channels_last inside, NCHW outputs, same values); training gets its
weights back in the layout it gave them."""

import pytest
import torch
from mmdet.registry import MODELS

from cpwc_mmdet.backbones import CPWCResNet
from cpwc_mmdet.backbones.channels_last import takes_channels_last
from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.ops import (
    cpu_kernels_available,
    cpu_kernels_reason,
    use_kernel,
)
from cpwc_mmdet.roi_heads import CPWCResLayer
from tests.helpers import HRNET_W18, run_counting_kernel_calls

needs_kernel = pytest.mark.skipif(
    not cpu_kernels_available(), reason=str(cpu_kernels_reason())
)


def as_list(out):
    return [out] if isinstance(out, torch.Tensor) else list(out)


@needs_kernel
@pytest.mark.parametrize(
    'build',
    [
        lambda: CPWCResNet(depth=50, out_indices=(0, 1, 2, 3)),
        lambda: MODELS.build(
            dict(
                type='CPWCBackbone',
                backbone=dict(
                    type='RegNet',
                    arch='regnetx_400mf',
                    out_indices=(0, 1, 2, 3),
                ),
            )
        ),
        lambda: CPWCResLayer(depth=50, stage=3, stride=1),
        lambda: CPWCResNet(
            depth=50,
            deep_stem=True,
            avg_down=True,
            base_channels=16,
            out_indices=(0, 1, 2, 3),
        ),
    ],
)
def test_nchw_inference_reaches_the_kernel_and_returns_nchw(build):
    model = build()
    model.eval()  # (mmdet's ResNet.train() returns None: no chaining)
    channels = 1024 if isinstance(model, CPWCResLayer) else 3
    x = torch.randn(2, channels, 32, 40)
    with torch.no_grad():
        with use_kernel('torch'):  # no kernel: the layout is left alone
            expected, calls_off = run_counting_kernel_calls(model, x)
        out, calls_on = run_counting_kernel_calls(model, x)
    assert calls_off == 0
    assert calls_on == sum(isinstance(m, CPWConv2d) for m in model.modules())
    for o, e in zip(as_list(out), as_list(expected)):
        assert o.is_contiguous()  # NCHW, as the neck / RoI head expects
        torch.testing.assert_close(
            o, e, rtol=1e-4, atol=1e-4 * e.abs().max().item()
        )


def test_training_and_channels_last_input_are_left_alone():
    model = CPWCResNet(depth=50, out_indices=(3,))
    x = torch.randn(2, 3, 64, 64)
    out = model(x)[0]  # gradients needed: no conversion
    assert out.requires_grad and out.is_contiguous()
    assert not getattr(model, '_channels_last_weights', False)
    model.eval()
    with torch.no_grad():  # the caller chose channels_last: keep it
        out = model(x.contiguous(memory_format=torch.channels_last))[0]
    assert out.is_contiguous(memory_format=torch.channels_last)


@needs_kernel
def test_weights_go_back_to_their_layout_for_training():
    """Inference moves the weights to channels_last once (not at every
    call); the next forward with gradients moves them back, so training
    sees the layout it was given (and DDP its gradient buckets)."""
    model = CPWCResNet(depth=50, base_channels=16, out_indices=(3,))
    conv = model.layer1[0].conv2  # a 3x3: a 1x1 weight is both layouts
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        model(x)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()
    storage = conv.weight.data_ptr()
    with torch.no_grad():
        model(x)
    assert conv.weight.data_ptr() == storage  # moved once
    model.train()
    out = model(x)[0]
    assert conv.weight.is_contiguous() and out.is_contiguous()


DCN = dict(type='DCN', deform_groups=1, fallback_on_stride=False)
C3_C5 = (False, True, True, True)


def plugin(cfg, position='after_conv2'):
    return [
        dict(cfg=cfg, stages=(False, False, True, True), position=position)
    ]


@pytest.mark.parametrize(
    'extra',
    [
        dict(dcn=DCN, stage_with_dcn=C3_C5),
        dict(dcn=dict(DCN, type='DCNv2'), stage_with_dcn=C3_C5),
        dict(
            plugins=plugin(
                dict(type='ContextBlock', ratio=1 / 4), 'after_conv3'
            )
        ),
        dict(
            plugins=plugin(
                dict(
                    type='GeneralizedAttention',
                    num_heads=8,
                    attention_type='0010',
                    kv_stride=2,
                )
            )
        ),
        dict(plugins=plugin(dict(type='NonLocal2d'))),
    ],
    ids=['dcn', 'dcnv2', 'context_block', 'gen_attention', 'nonlocal'],
)
def test_switch_stays_off_with_deformable_convs_and_plugins(extra):
    """mmcv's DCN refuses channels_last input; plugins reshape with view."""
    model = CPWCResNet(
        depth=50, base_channels=16, out_indices=(0, 1, 2, 3), **extra
    )
    model.eval()
    assert not takes_channels_last(model)
    x = torch.randn(1, 3, 96, 96)  # DCN: 3x3 features at stride 32
    with torch.no_grad():
        out, calls = run_counting_kernel_calls(model, x)
        with use_kernel('torch'):
            expected = model(x)
    assert calls == 0 and not getattr(model, '_channels_last_weights', False)
    for o, e in zip(out, expected):
        assert o.is_contiguous()
        torch.testing.assert_close(o, e, rtol=0, atol=0)  # the same path


def test_switch_stays_off_in_a_deformable_shared_head_or_unknown_backbone():
    head = CPWCResLayer(depth=50, stage=3, stride=1, base_channels=16, dcn=DCN)
    assert not takes_channels_last(head)
    res2net = MODELS.build(
        dict(
            type='CPWCBackbone',
            backbone=dict(type='Res2Net', depth=50, base_channels=16),
        )
    )
    assert not takes_channels_last(res2net)  # its own block forward
    head.eval()
    with torch.no_grad():
        assert head(torch.randn(2, 256, 7, 7)).shape == (2, 512, 7, 7)


@pytest.mark.parametrize(
    'build',
    [
        lambda: CPWCResNet(depth=18, deep_stem=True, avg_down=True),
        lambda: CPWCResLayer(depth=50, base_channels=16),
        lambda: MODELS.build(
            dict(
                type='CPWCBackbone',
                backbone=dict(
                    type='ResNeXt',
                    depth=50,
                    groups=4,
                    base_width=4,
                    base_channels=16,
                ),
            )
        ),
        lambda: MODELS.build(
            dict(
                type='CPWCBackbone',
                backbone=dict(type='HRNet', extra=HRNET_W18),
            )
        ),
    ],
)
def test_switch_applies_to_plain_resnets_heads_and_hrnet(build):
    assert takes_channels_last(build())
