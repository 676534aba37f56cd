"""tools/model_converters/coc_release_to_cpwc_mmdet.py: a checkpoint in the
CoC authors' layout (``weight9``, ``conv_super.conv.weight``,
``conv_super.ln.*``, ``norm_final.*``) starts our CoCConv2d with the weight
their formulation computes."""

import math

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS

from cpwc_mmdet.layers import CoCConv2d
from tests.helpers import assert_one_line_error, load_tool, run_tool

TOOL = 'tools/model_converters/coc_release_to_cpwc_mmdet.py'
#: (k, sk_plus) -> the release's dilated super kernel (size, dilation)
RELEASE_SUPER = {(3, 2): (3, 2), (7, 2): (5, 3)}


def release_layer(ci, co, k, sa=2, sk_plus=2, norm_final=True):
    """Random tensors of one release Coc2d (share='ci', sbn='LN',
    ws='LN' or none), keyed by their parameter names."""
    groups = math.ceil(co / sa**2)
    size, _ = RELEASE_SUPER[(k, sk_plus)]
    layer = {
        'weight9': torch.randn(ci, groups, sa * k, sa * k),
        'conv_super.conv.weight': torch.randn(groups, 1, size, size),
        'conv_super.ln.weight': torch.rand(groups, sa * k, sa * k) + 0.5,
        'conv_super.ln.bias': torch.randn(groups, sa * k, sa * k),
    }
    if norm_final:
        layer['norm_final.weight'] = torch.rand(ci, k, k) + 0.5
        layer['norm_final.bias'] = torch.randn(ci, k, k)
    return layer


def release_weight(layer, co, k, sa=2, sk_plus=2):
    """The release's Coc2d forward, written out from its description: the
    conv weight ``(co, ci, k, k)`` its parameters give."""
    image = layer['weight9']  # (ci, co4, sa*k, sa*k): ci is the batch
    kernel = layer['conv_super.conv.weight']
    size, dilation = RELEASE_SUPER[(k, sk_plus)]
    # Wsc2d: standardised over each kernel's taps, unbiased std, eps 1e-5
    mean = kernel.mean(dim=[1, 2, 3], keepdim=True)
    std = kernel.std(dim=[1, 2, 3], keepdim=True)
    kernel = (kernel - mean) / (std + 1e-5)
    pad = (size // 2 * 2 * dilation + 1) // 2
    out = F.conv2d(
        image, kernel, padding=pad, dilation=dilation, groups=image.shape[1]
    )
    out = F.layer_norm(
        out,
        out.shape[1:],
        layer['conv_super.ln.weight'],
        layer['conv_super.ln.bias'],
        1e-5,
    )
    out = (out + image).permute(1, 0, 2, 3)  # skip; (co4, ci, sa*k, sa*k)
    co4, ci = out.shape[:2]
    weight = out.reshape(co4, ci, sa, k, sa, k).permute(0, 2, 4, 1, 3, 5)
    weight = weight.reshape(co4 * sa * sa, ci, k, k)[:co]
    if 'norm_final.weight' in layer:
        weight = F.layer_norm(
            weight,
            weight.shape[1:],
            layer['norm_final.weight'],
            layer['norm_final.bias'],
            1e-5,
        )
    return weight


@pytest.mark.parametrize(
    'ci, co, k, norm_final',
    [
        (5, 6, 3, True),  # co padded to 8: two groups, two dropped kernels
        (3, 8, 7, True),  # the 7x7 stem's dilated 5x5 super kernel
        (4, 4, 3, False),  # ws=False: no final norm
    ],
)
def test_converted_layer_computes_the_release_weight(ci, co, k, norm_final):
    layer = release_layer(ci, co, k, norm_final=norm_final)
    state = {f'backbone.conv.{name}': t for name, t in layer.items()}
    converted, dropped, num_layers = load_tool(
        'model_converters/coc_release_to_cpwc_mmdet'
    ).convert(state)
    assert num_layers == 1 and dropped == []
    ours = CoCConv2d(ci, co, k, padding=k // 2, bias=False, orth=norm_final)
    prefix = 'backbone.conv.'
    ours.load_state_dict(
        {key[len(prefix) :]: value for key, value in converted.items()}
    )
    expected = release_weight(layer, co, k)
    torch.testing.assert_close(
        ours.deploy_weight(), expected, rtol=1e-5, atol=1e-5
    )
    x = torch.randn(2, ci, 9, 9)
    torch.testing.assert_close(
        ours(x), F.conv2d(x, expected, padding=k // 2), rtol=1e-4, atol=1e-4
    )


def release_resnet_checkpoint(model):
    """A ResNetCoc checkpoint of ``model``'s shape in the release's names
    (HRNetCoc's in-backbone head keys added), with an mmcls classifier's
    ``backbone.`` / ``head.fc.`` prefixes."""
    state = {}
    for key, value in model.state_dict().items():
        for ours, theirs in (
            ('weight_image', 'weight9'),
            ('super_kernel', 'conv_super.conv.weight'),
            ('super_norm.', 'conv_super.ln.'),
            ('weight_norm.', 'norm_final.'),
        ):
            key = key.replace(ours, theirs)
        state['backbone.' + key] = (
            torch.randn_like(value.float()).to(value.dtype)
            if value.is_floating_point()
            else value
        )
    state['backbone.final_layer.0.weight'] = torch.randn(8, 4, 1, 1)
    state['head.fc.weight'] = torch.randn(3, 128)
    state['head.fc.bias'] = torch.randn(3)
    return dict(meta=dict(mmcls_version='0.x'), state_dict=state)


def test_whole_checkpoint_loads_strictly(tmp_path):
    cfg = dict(type='mmdet.CoCResNet', depth=50, base_channels=8)
    model = MODELS.build(cfg)
    src, dst = tmp_path / 'release.pth', tmp_path / 'ours.pth'
    torch.save(release_resnet_checkpoint(model), src)
    out = run_tool(TOOL, str(src), str(dst), check=True)
    assert 'renamed 17 Coc2d layers' in out.stdout  # stem + 16 blocks
    assert 'dropped 1 keys' in out.stdout
    state = torch.load(dst, weights_only=True)['state_dict']
    assert sorted(k for k in state if not k.startswith('backbone.')) == [
        'head.fc.bias',
        'head.fc.weight',
    ]
    fresh = MODELS.build(cfg)
    fresh.load_state_dict(
        {
            k[len('backbone.') :]: v
            for k, v in state.items()
            if k.startswith('backbone.')
        }
    )  # strict


def test_unsupported_variant_is_one_line(tmp_path):
    layer = release_layer(4, 4, 3)
    layer['conv_super.conv.bias'] = torch.zeros(1)  # sbn=None, wsc=True
    src = tmp_path / 'release.pth'
    torch.save({f'backbone.conv1.{k}': v for k, v in layer.items()}, src)
    result = run_tool(TOOL, str(src), str(tmp_path / 'out.pth'))
    assert_one_line_error(result, 'backbone.conv1', 'conv_super.conv.bias')
    assert not (tmp_path / 'out.pth').exists()
