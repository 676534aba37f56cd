import subprocess
import sys

import torch
from mmdet.registry import MODELS

from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.utils.census import table2
from tests.toy_data import ROOT

BASELINE_MACS = 4_111_412_224  # mmengine's counter, ResNet-50 + fc, 224x224


def context_unit_macs(stage2):
    """Closed form of what CPWC adds: per output pixel of every CPWC layer,
    9 * sum|G(z)| (stage 1) + 9 * Z (stage 2)."""
    model = MODELS.build(dict(type='CPWCResNet', depth=50))
    pixels = {}
    for layer in model.modules():
        if isinstance(layer, CPWConv2d):
            layer.register_forward_hook(
                lambda m, i, o: pixels.__setitem__(m, o.shape[2] * o.shape[3]))
    model.eval()
    model(torch.rand(1, 3, 224, 224))
    return sum((9 * max(m.in_channels, m.out_channels) +
                (9 * m.out_channels if stage2 else 0)) * hw
               for m, hw in pixels.items())


def test_table2_params_are_exact():
    rows = table2(with_flops=False)
    assert [r.params for r in rows] == [25_557_032, 25_845_608, 26_050_088]
    assert [r.backbone_params for r in rows] == [23_508_032, 23_796_608,
                                                 24_001_088]


def test_table2_macs_are_the_closed_form():
    rows = table2()
    assert rows[0].flops == BASELINE_MACS
    assert rows[1].flops == BASELINE_MACS + context_unit_macs(stage2=False)
    assert rows[2].flops == BASELINE_MACS + context_unit_macs(stage2=True)
    # 4.11 and 4.30 GMACs as the spec quotes them (two decimals, truncated)
    assert [int(r.flops / 1e7) / 100 for r in rows] == [4.11, 4.22, 4.30]


def test_paper_cli_prints_exact_counts():
    out = subprocess.run(
        [sys.executable, 'tools/analysis_tools/get_flops.py', '--paper'],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for count in ('25,557,032', '25,845,608', '26,050,088', '4,111,412,224',
                  '4,305,593,344'):
        assert count in out


def test_backbone_cli_deploy_form():
    out = subprocess.run(
        [sys.executable, 'tools/analysis_tools/get_flops.py', '--backbone',
         "dict(type='CoCResNet', depth=50)", '--deploy', '--shape', '64'],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert 'params: 23,508,032' in out
