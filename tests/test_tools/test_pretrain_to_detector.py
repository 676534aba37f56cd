"""tools/model_converters/pretrain_to_detector.py: a classifier checkpoint
becomes a detector-shaped one that starts the backbone (and the C4 shared
head) exactly; every way it does not fit is one line naming the problem.
The checkpoints here are the toy pretraining configs' untrained
classifiers, saved as mmengine saves them (with ``meta['cfg']``)."""

import os
import types

import pytest
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import cpwc_mmdet  # noqa: F401
from tests.helpers import ROOT, assert_one_line_error, load_tool

BRIDGE = load_tool('model_converters/pretrain_to_detector')
TOY = 'configs/toy/'


def save_classifier(path, config, **changes):
    """Save an untrained classifier of ``config`` (after ``changes``, dotted
    keys) as mmengine's Runner does: ``state_dict`` and ``meta['cfg']``."""
    cfg = Config.fromfile(os.path.join(ROOT, TOY, config))
    cfg.merge_from_dict(changes)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    torch.save(
        dict(state_dict=model.state_dict(), meta=dict(cfg=cfg.pretty_text)),
        path,
    )
    return model.state_dict()


def run_bridge(capsys, *args):
    """main(args) as a finished process: returncode, stdout, stderr."""
    try:
        code = BRIDGE.main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return types.SimpleNamespace(
        returncode=code, stdout=out.out, stderr=out.err
    )


def build_detector(config, checkpoint):
    """The toy detector with its backbone (and shared head) initialised
    from ``checkpoint`` through the configs' ``init_cfg`` prefixes."""
    cfg = Config.fromfile(os.path.join(ROOT, TOY, config))
    model = cfg.model
    backbone = model.backbone.get('backbone', model.backbone)
    backbone.init_cfg = dict(
        type='Pretrained', checkpoint=str(checkpoint), prefix='backbone.'
    )
    if model.get('roi_head', {}).get('shared_head'):
        model.roi_head.shared_head.init_cfg = dict(
            type='Pretrained',
            checkpoint=str(checkpoint),
            prefix='roi_head.shared_head.',
        )
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = DET_MODELS.build(model)
        detector.init_weights()
    return detector


def test_hrnet_coc_classifier_starts_coc_hrnet_exactly(tmp_path, capsys):
    source = save_classifier(
        tmp_path / 'cls.pth', 'hrnetv2p-w8-coc_toy-cls.py'
    )
    result = run_bridge(
        capsys,
        tmp_path / 'cls.pth',
        tmp_path / 'det.pth',
        '--config',
        TOY + 'mask-rcnn_hrnetv2p-w8-coc_toy.py',
    )
    assert result.returncode == 0, result.stderr
    neck = sum(k.startswith('neck.') for k in source)
    assert (
        'unused (classifier only): head.fc.bias, head.fc.weight, '
        'neck.0.downsample_layers' in result.stdout
    )
    assert f'(+{neck - 2} more)' in result.stdout
    detector = build_detector(
        'mask-rcnn_hrnetv2p-w8-coc_toy.py', tmp_path / 'det.pth'
    )
    state = detector.backbone.state_dict()
    assert len(state) == sum(k.startswith('backbone.') for k in source)
    for key, value in state.items():
        torch.testing.assert_close(
            value, source['backbone.' + key], rtol=0, atol=0
        )


@pytest.mark.parametrize(
    'source, changes, detector, fragments',
    [
        (
            'resnet50-coc_toy-cls.py',
            {},
            'faster-rcnn_r50-cpwc_c4_toy.py',
            [
                'is a coc backbone',
                'super_kernel',
                'builds a cpwc one',
                'pwc.weight',
            ],
        ),
        (
            'resnet50_toy-cls.py',
            {},
            'faster-rcnn_r50-cpwc_c4_toy.py',
            ['is a plain backbone', 'inflate_checkpoint.py'],
        ),
        (
            'resnet50-cpwc_toy-cls.py',
            {},
            'retinanet_r50-coc_fpn_toy.py',
            ['is a cpwc backbone', 'builds a coc one'],
        ),
        (
            'resnet50-cpwc_toy-cls.py',
            {'data_preprocessor.mean': [129.304, 124.07, 112.434]},
            'faster-rcnn_r50-cpwc_c4_toy.py',
            [
                'another convention',
                'mean [129.304, 124.07, 112.434] vs [123.675, 116.28, 103.53]',
            ],
        ),
        (
            'resnet50-coc_toy-cls.py',
            {'model.backbone.conversion.type': 'stnd'},
            'retinanet_r50_fpn_toy.py',
            ['conv_type stnd vs None'],
        ),
        (
            'resnet50_toy-cls.py',
            {'model.backbone.style': 'caffe'},
            'faster-rcnn_r50_c4_toy.py',
            ['style caffe vs pytorch'],
        ),
    ],
)
def test_misfits_are_one_line(
    tmp_path, capsys, source, changes, detector, fragments
):
    save_classifier(tmp_path / 'cls.pth', source, **changes)
    result = run_bridge(
        capsys,
        tmp_path / 'cls.pth',
        tmp_path / 'det.pth',
        '--config',
        TOY + detector,
    )
    assert_one_line_error(
        result, 'pretrain_to_detector.py: error:', *fragments
    )
    assert not (tmp_path / 'det.pth').exists()


def test_keys_that_fit_nowhere_are_listed(tmp_path, capsys):
    state = save_classifier(tmp_path / 'cls.pth', 'resnet50-cpwc_toy-cls.py')
    state['backbone.layer5.0.conv1.pwc.weight'] = torch.zeros(1)
    del state['backbone.layer3.0.bn1.running_mean']
    torch.save(dict(state_dict=state), tmp_path / 'cls.pth')  # no meta cfg
    result = run_bridge(
        capsys,
        tmp_path / 'cls.pth',
        tmp_path / 'det.pth',
        '--config',
        TOY + 'faster-rcnn_r50-cpwc_c4_toy.py',
    )
    assert_one_line_error(
        result,
        'fit nowhere in the detector: backbone.layer5.0.conv1.pwc.weight',
        'does not fill: backbone.layer3.0.bn1.running_mean',
    )


def test_release_names_are_sent_to_their_converter(tmp_path, capsys):
    state = save_classifier(tmp_path / 'cls.pth', 'resnet50-coc_toy-cls.py')
    state = {k.replace('weight_image', 'weight9'): v for k, v in state.items()}
    torch.save(dict(state_dict=state), tmp_path / 'cls.pth')
    result = run_bridge(
        capsys,
        tmp_path / 'cls.pth',
        tmp_path / 'det.pth',
        '--config',
        TOY + 'retinanet_r50-coc_fpn_toy.py',
    )
    assert_one_line_error(
        result, "CoC authors' key names", 'coc_release_to_cpwc_mmdet.py'
    )
