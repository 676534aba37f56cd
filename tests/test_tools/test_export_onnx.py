"""tools/deployment/export_onnx.py: the deploy form in ONNX computes what the
train-form PyTorch model computes (onnxruntime on the CPU)."""

import warnings

import onnx
import onnxruntime
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from cpwc_mmdet.conversion import switch_model_to_deploy
from cpwc_mmdet.layers import CoCConv2d, CPWConv2d
from cpwc_mmdet.ops import cpu_kernels_available
from tests.helpers import (
    assert_one_line_error,
    calibrate_then_randomise_norms,
    run_counting_kernel_calls,
    run_tool,
)

TOOL = 'tools/deployment/export_onnx.py'
CPWC_R50 = 'configs/cpwc/retinanet_r50-cpwc_fpn_1x_coco.py'
COC_R50 = 'configs/coc/retinanet_r50-coc_fpn_1x_coco.py'
COC_HRNET = 'configs/coc/mask-rcnn_hrnetv2p-w18-coc_1x_coco.py'
SIZE = (64, 64)  # HRFPN pools its stride-4 level by 16


def build(config, overrides=None):
    """CONFIG's detector, random weights; its backbone's BN statistics
    measured on a random batch, then perturbed, with random affines (an
    untrained HRNet overflows with arbitrary statistics)."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(
        {'model.backbone.norm_eval': False, **(overrides or {})}
    )
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    calibrate_then_randomise_norms(model.backbone, torch.rand(2, 3, *SIZE))
    return model.eval()


def save_state(model, tmp_path):
    path = tmp_path / 'model.pth'
    torch.save(model.state_dict(), path)
    return str(path)


def run_onnx(path, x):
    session = onnxruntime.InferenceSession(
        str(path), providers=['CPUExecutionProvider']
    )
    return [torch.from_numpy(o) for o in session.run(None, {'input': x})]


def assert_relative_close(got, want, tolerance=1e-4):
    """Every output within ``tolerance`` of the largest |value| of its
    PyTorch counterpart, and not trivially small."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        scale = w.abs().max().item()
        assert scale > 1e-3  # random weights give non-trivial features
        assert (g - w).abs().max().item() <= tolerance * scale


@pytest.mark.parametrize(
    'config, layer',
    [(CPWC_R50, CPWConv2d), (COC_R50, CoCConv2d), (COC_HRNET, CoCConv2d)],
)
def test_export_matches_train_form(tmp_path, config, layer):
    """A train-form checkpoint, re-parameterised by the tool."""
    model = build(config)
    assert any(isinstance(m, layer) for m in model.modules())
    x = torch.rand(1, 3, *SIZE)
    with torch.no_grad():
        want = list(model.extract_feat(x))
    out = tmp_path / 'model.onnx'
    result = run_tool(
        TOOL, config, save_state(model, tmp_path), str(out),
        '--input-size', *map(str, SIZE), '--verify', check=True,
    )  # fmt: skip
    assert f'exported the extract_feat of {config}' in result.stdout
    verified = [s for s in result.stdout.splitlines() if 'onnxruntime vs' in s]
    assert len(verified) == 1
    assert float(verified[0].split('= ')[-1].split(' (')[0]) <= 1e-4
    graph = onnx.load(str(out))
    assert 'Conv' in {node.op_type for node in graph.graph.node}
    assert {node.domain for node in graph.graph.node} <= {'', 'ai.onnx'}
    got = run_onnx(out, x.numpy())
    assert len(got) == len(want) == 5  # FPN's or HRFPN's levels
    assert_relative_close(got, want)


def test_backbone_of_a_deploy_checkpoint(tmp_path):
    """A checkpoint re-parameterised before (reparameterize_model.py)."""
    model = build(COC_R50, {'model.backbone.depth': 18})
    x = torch.rand(1, 3, *SIZE)
    with torch.no_grad():
        want = list(model.backbone(x))
    assert switch_model_to_deploy(model) == 1 + 8 * 2  # stem, 8 BasicBlocks
    out = tmp_path / 'r18.onnx'
    run_tool(
        TOOL, COC_R50, save_state(model, tmp_path), str(out),
        '--input-size', *map(str, SIZE), '--part', 'backbone',
        '--cfg-options', 'model.backbone.depth=18', check=True,
    )  # fmt: skip
    assert_relative_close(run_onnx(out, x.numpy()), want)


def test_deformable_convs_are_a_one_line_error(tmp_path):
    """mmcv's deformable convs export only as custom mmcv:: ops."""
    cfg = Config.fromfile(COC_R50)
    cfg.merge_from_dict(
        {
            'model.backbone.dcn': dict(
                type='DCNv2', deform_groups=1, fallback_on_stride=False
            ),
            'model.backbone.stage_with_dcn': (False, False, False, True),
        }
    )
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    out = tmp_path / 'dcn.onnx'
    result = run_tool(
        TOOL, COC_R50, save_state(model, tmp_path), str(out),
        '--input-size', '32', '32', '--part', 'backbone', '--cfg-options',
        'model.backbone.dcn.type=DCNv2', 'model.backbone.dcn.deform_groups=1',
        'model.backbone.dcn.fallback_on_stride=False',
        'model.backbone.stage_with_dcn=(False,False,False,True)',
    )  # fmt: skip
    assert_one_line_error(
        result, 'export_onnx.py: error: mmcv deformable convs',
        'layer4.0.conv2, layer4.1.conv2, layer4.2.conv2', 'mmdeploy'
    )  # fmt: skip
    assert not out.exists()
    assert not (tmp_path / 'dcn.onnx.tmp').exists()


def test_checkpoint_that_does_not_fit_is_a_one_line_error(tmp_path):
    checkpoint = tmp_path / 'other.pth'
    torch.save({'backbone.conv1.weight': torch.zeros(1)}, checkpoint)
    result = run_tool(
        TOOL, COC_R50, str(checkpoint), str(tmp_path / 'x.onnx'),
        '--cfg-options', 'model.backbone.depth=18',
    )  # fmt: skip
    assert_one_line_error(result, 'does not fit the config', 'missing keys')


@pytest.mark.skipif(
    not cpu_kernels_available(), reason='fused CPWC kernel not built'
)
def test_export_traces_cpwc_convs_not_the_fused_kernel(tmp_path):
    layer = CPWConv2d(16, 8).eval()
    x = torch.rand(1, 16, 12, 12).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        want, calls = run_counting_kernel_calls(layer, x)
    assert calls == 1  # inference on this input runs the kernel ...
    path = tmp_path / 'cpwc.onnx'
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        _, calls = run_counting_kernel_calls(
            lambda t: torch.onnx.export(
                layer, (t,), str(path), dynamo=False, input_names=['input']
            ),
            x,
        )
    assert calls == 0  # ... the exporter traces the PyTorch convs instead
    (got,) = run_onnx(path, x.contiguous().numpy())
    torch.testing.assert_close(got, want.contiguous(), rtol=1e-4, atol=1e-5)
