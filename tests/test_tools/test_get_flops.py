import functools
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.config import Config

from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.reproduce.census import (
    build_model,
    format_census,
    table_census,
)
from cpwc_mmdet.reproduce.tables import TABLES
from cpwc_mmdet.utils.census import count_params
from tests.helpers import ROOT

TABLE1, TABLE2 = TABLES['cpwc-table1'], TABLES['cpwc-table2']
RESNET50_ROWS = ('resnet50', 'resnet50-cpwc-no-stage2', 'resnet50-cpwc')


@pytest.fixture(scope='module')
def resnet50_rows():
    """Table 2's ResNet-50 rows, counted once (FLOPs take seconds)."""
    return table_census(TABLE2, ROOT, keys=RESNET50_ROWS)


def classifier(key):
    row = next(r for r in TABLE2.rows if r.key == key)
    return build_model(Config.fromfile(f'{ROOT}/{row.pretrain}'))


def weight_layer_macs(model, size):
    """Multiply-adds of every conv and linear layer of a plain model, from
    the layers' shapes: output elements x weights per output element."""
    macs = []

    def hook(layer, inputs, output):
        macs.append(output.numel() * layer.weight[0].numel())

    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            layer.register_forward_hook(hook)
    with torch.no_grad():
        # shapes are all the count needs: run on the meta device
        model.to('meta').eval()
        model(torch.empty(1, 3, size, size, device='meta'), mode='tensor')
    return sum(macs)


@functools.lru_cache(maxsize=None)
def cpwc_layer_shapes():
    """(C, Z, output pixels) of every CPWC layer of ResNet-50 at 224x224."""
    model = MODELS.build(dict(type='CPWCResNet', depth=50))
    pixels = {}
    for layer in model.modules():
        if isinstance(layer, CPWConv2d):
            layer.register_forward_hook(
                lambda m, i, o: pixels.__setitem__(m, o.shape[2] * o.shape[3])
            )
    model.eval()
    model(torch.rand(1, 3, 224, 224))
    return [(m.in_channels, m.out_channels, hw) for m, hw in pixels.items()]


def context_unit_macs(stage2):
    """Closed form of what CPWC adds: per output pixel of every CPWC layer,
    9 * sum|G(z)| (stage 1) + 9 * Z (stage 2)."""
    return sum(
        (9 * max(c, z) + (9 * z if stage2 else 0)) * hw
        for c, z, hw in cpwc_layer_shapes()
    )


def test_table2_params_are_exact(resnet50_rows):
    assert [r.key for r in resnet50_rows] == list(RESNET50_ROWS)
    assert [r.params for r in resnet50_rows] == [
        25_557_032,
        25_845_608,
        26_050_088,
    ]
    backbones = [count_params(classifier(k).backbone) for k in RESNET50_ROWS]
    assert backbones == [23_508_032, 23_796_608, 24_001_088]


def test_table2_macs_are_the_closed_form(resnet50_rows):
    base_macs = weight_layer_macs(classifier('resnet50'), 224)
    assert base_macs == 4_089_184_256  # the usual 4.09 GMACs of ResNet-50
    plain, no_stage2, full = resnet50_rows
    assert plain.flops == base_macs
    assert no_stage2.flops == base_macs + context_unit_macs(stage2=False)
    assert full.flops == base_macs + context_unit_macs(stage2=True)
    # BN and pooling, which CPWC does not change, make up the rest
    assert len({r.all_flops - r.flops for r in resnet50_rows}) == 1
    # 4.11 and 4.30 GMACs as the spec quotes them (two decimals, truncated)
    assert [int(r.all_flops / 1e7) / 100 for r in resnet50_rows] == [
        4.11,
        4.22,
        4.30,
    ]
    assert [r.flops_match for r in resnet50_rows] == [
        'yes, truncated',
        'yes',
        'yes',
    ]


def test_census_text_prints_exact_counts(resnet50_rows):
    text = format_census(TABLE2, resnet50_rows)
    for count in (
        '25,557,032',
        '25,845,608',
        '26,050,088',
        '4,089,184,256',
        '4,283,365,376',
        '4,111,512,576',
        '4,305,693,696',
    ):
        assert count in text
    assert 'Rows that differ' not in text  # all three match the paper


def test_paper_cli_prints_a_table():
    out = subprocess.run(
        [
            sys.executable,
            'tools/analysis_tools/get_flops.py',
            '--paper',
            '--params-only',
            '--table',
            'cpwc-table2',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert TABLE2.title in out and TABLE1.title not in out
    for row in TABLE2.rows:
        assert f'| {row.name} ' in out
    for count in ('25,557,032', '25,845,608', '26,050,088', '3,733,544'):
        assert count in out
    # MobileNetV2 1.0x's 3,504,872 is not the paper's 3.4M: the note says why
    assert 'Rows that differ from the paper:\n- MobileNetV2 1.0x:' in out


def test_backbone_cli_deploy_form():
    out = subprocess.run(
        [
            sys.executable,
            'tools/analysis_tools/get_flops.py',
            '--backbone',
            "dict(type='CoCResNet', depth=50)",
            '--deploy',
            '--shape',
            '64',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'params: 23,508,032' in out
