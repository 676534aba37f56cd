"""Model surgery (cpwc_mmdet.conversion) and the package's import layering."""

import ast
import pathlib
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from cpwc_mmdet.conversion import (
    attached_children,
    convert_pointwise_to_cpwc,
    convert_spatial_convs,
    converted_module_names,
    reparameterize,
    switch_model_to_deploy,
)
from cpwc_mmdet.layers import CoCConv2d, CPWConv2d, OrthConv2d, StndConv2d
from tests.helpers import ROOT

PACKAGE = pathlib.Path(ROOT) / 'cpwc_mmdet'


def small_net():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 1),
        nn.Sequential(
            nn.Conv2d(16, 16, 3, padding=1, groups=4),
            nn.Conv2d(16, 4, 1, stride=2, bias=True),
        ),
    )


def test_pointwise_conversion_keeps_geometry_and_counts():
    net = small_net()
    assert convert_pointwise_to_cpwc(net) == 2
    assert convert_pointwise_to_cpwc(net) == 0  # nothing left to convert
    layer = net[3][1]
    assert isinstance(layer, CPWConv2d)
    assert (layer.in_channels, layer.out_channels) == (16, 4)
    assert layer.stride == (2, 2) and layer.pwc.bias is not None
    assert converted_module_names(net) == ['2', '3.1']
    assert net(torch.rand(1, 3, 8, 8)).shape == (1, 4, 4, 4)


@pytest.mark.parametrize(
    'conv_type,cls',
    [('coc', CoCConv2d), ('stnd', StndConv2d), ('orth', OrthConv2d)],
)
def test_spatial_conversion_then_reparameterize_round_trip(conv_type, cls):
    net = small_net()
    assert convert_spatial_convs(net, conv_type) == 2
    assert isinstance(net[0], cls) and isinstance(net[3][0], cls)
    assert net[3][0].groups == 4
    x = torch.rand(2, 3, 8, 8)
    expected = net.eval()(x)
    assert switch_model_to_deploy(net) == 2
    assert type(net[0]) is nn.Conv2d and type(net[3][0]) is nn.Conv2d
    torch.testing.assert_close(net(x), expected, atol=1e-5, rtol=1e-4)
    assert reparameterize(net) == 0


def test_bad_conversion_arguments_are_one_line():
    with pytest.raises(ValueError, match='^conv_type must be one of'):
        convert_spatial_convs(small_net(), 'dcn')
    with pytest.raises(ValueError, match='^coc_cfg has unknown keys'):
        convert_spatial_convs(small_net(), 'coc', dict(sb=2))
    with pytest.raises(ValueError, match='^cpwc_cfg has unknown keys'):
        convert_pointwise_to_cpwc(small_net(), dict(stage3=True))


def test_block_plugins_are_attached_not_converted():

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(4, 4, 1)
            self.gen_attention = nn.Sequential(nn.Conv2d(4, 4, 1))
            self.after_conv1_plugin_names = ['gen_attention']

    block = Block()
    assert attached_children(block) == {'gen_attention'}
    assert convert_pointwise_to_cpwc(block) == 1
    assert type(block.gen_attention[0]) is nn.Conv2d


def test_utils_import_no_model_code():
    """``cpwc_mmdet.utils`` is tooling: importing all of it loads none of
    the layers, backbones, heads or the conversion module."""
    modules = sorted(
        p.stem
        for p in (PACKAGE / 'utils').glob('*.py')
        if p.stem != '__init__'
    )
    code = (
        'import importlib, sys\n'
        f'for m in {modules!r}:\n'
        '    importlib.import_module("cpwc_mmdet.utils." + m)\n'
        'print(sorted(m for m in sys.modules if m.startswith('
        '("cpwc_mmdet.layers", "cpwc_mmdet.backbones", '
        '"cpwc_mmdet.roi_heads", "cpwc_mmdet.conversion"))))'
    )
    # importing cpwc_mmdet.utils runs cpwc_mmdet/__init__.py first, which
    # registers everything; so load the utils package without it
    code = (
        'import sys, types, pathlib\n'
        'pkg = types.ModuleType("cpwc_mmdet")\n'
        f'pkg.__path__ = [{str(PACKAGE)!r}]\n'
        'sys.modules["cpwc_mmdet"] = pkg\n' + code
    )
    out = subprocess.run(
        [sys.executable, '-c', code], text=True, capture_output=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == '[]', out.stdout


#: modules imported lazily on purpose: they need an optional dependency
#: (Triton), which the first CUDA call loads, never an import on a CPU
LAZY_OPTIONAL_MODULES = {'triton_context'}


def test_no_package_import_hides_inside_a_function():
    """Imports of the package's own modules sit at module level (a local
    import is how an import circle hides), but for the optional-backend
    modules named in LAZY_OPTIONAL_MODULES."""
    hidden = []
    for path in PACKAGE.rglob('*.py'):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if not isinstance(node, ast.ImportFrom):
                    continue
                names = {node.module or ''} | {a.name for a in node.names}
                lazy = {
                    n.split('.')[-1] for n in names
                } & LAZY_OPTIONAL_MODULES
                if (
                    node.level > 0
                    or (node.module or '').startswith('cpwc_mmdet')
                ) and not lazy:
                    hidden.append(f'{path.relative_to(ROOT)}:{node.lineno}')
    assert hidden == []


def test_converted_layers_are_never_converted_again():
    net = small_net()
    convert_pointwise_to_cpwc(net)
    # a CPWConv2d's 1x1 path and 3x3 stage-1 convs are not own convs
    assert convert_spatial_convs(net, 'coc') == 2
    assert all(type(m) is nn.Conv2d for m in net[2].stage1)
    assert type(net[2].pwc) is nn.Conv2d
