"""The pretraining configs (ImageNet-1k, CIFAR-100, toy): each builds with
mmpretrain's registry and classifies; every row of CPWC Tables 1 and 2 has
one, with the census's parameter count; each states the detection
convention it feeds, and the detection configs that load it share that
convention and take its backbone's keys. Models are built, never trained or
loaded from a checkpoint (tests/test_tools/test_pretrain.py trains)."""

import glob
import os

import pytest
import torch
import yaml
from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import cpwc_mmdet  # noqa: F401
from cpwc_mmdet.reproduce.tables import TABLES
from tests.helpers import ROOT, load_tool

PRETRAIN_CONFIGS = sorted(
    os.path.relpath(p, ROOT)
    for pattern in (
        'configs/cpwc/*_in1k.py',
        'configs/cpwc/*_cifar100.py',
        'configs/coc/*_in1k.py',
        'configs/toy/*_toy-cls.py',
    )
    for p in glob.glob(os.path.join(ROOT, pattern))
)
NUM_CLASSES = {'_in1k.py': 1000, '_cifar100.py': 100, '_toy-cls.py': 3}

#: pretraining config -> (table, row key) of the classification tables
#: rows (the registry, cpwc_mmdet.reproduce.tables)
CONFIG_ROWS = {
    row.pretrain: (table.name, row.key)
    for table in TABLES.values()
    if table.kind == 'classification'
    for row in table.rows
}

#: detection config -> the pretraining config whose checkpoint starts it
#: (paths under configs/, or mmdet's baselines)
DETECTOR_PRETRAINING = {
    # CPWC Table 3: both rows from the paper's ImageNet recipe
    'faster_rcnn_r50_coco.py': 'cpwc/resnet50_8xb32-cpwc-recipe_in1k.py',
    'faster_rcnn_r50_cpwc_coco.py': 'cpwc/resnet50-cpwc_8xb32_in1k.py',
    'cpwc/retinanet_r50-cpwc_fpn_1x_coco.py': (
        'cpwc/resnet50-cpwc_8xb32_in1k.py'
    ),
    'cpwc/mask-rcnn_hrnetv2p-w18-cpwc_1x_coco.py': (
        'cpwc/hrnet-w18-cpwc_8xb32_in1k.py'
    ),
    'coc/retinanet_r50_fpn_1x_coco.py': 'coc/resnet50_8xb32_in1k.py',
    'coc/mask-rcnn_hrnetv2p-w18_1x_coco.py': 'coc/hrnet-w18_8xb32_in1k.py',
    **{
        f'coc/retinanet_r50-{t}_fpn_1x_coco.py': (
            f'coc/resnet50-{t}_8xb32_in1k.py'
        )
        for t in ('coc', 'stnd', 'orth')
    },
    **{
        f'coc/mask-rcnn_hrnetv2p-w18-{t}_1x_coco.py': (
            f'coc/hrnet-w18-{t}_8xb32_in1k.py'
        )
        for t in ('coc', 'stnd', 'orth')
    },
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py': (
        'coc/resnet50_8xb32_in1k.py'
    ),
    'mmdet::hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py': (
        'coc/hrnet-w18_8xb32_in1k.py'
    ),
    'toy/faster-rcnn_r50_c4_toy.py': 'toy/resnet50_toy-cls.py',
    'toy/faster-rcnn_r50-cpwc_c4_toy.py': 'toy/resnet50-cpwc_toy-cls.py',
    'toy/retinanet_r50_fpn_toy.py': 'toy/resnet50_toy-cls.py',
    'toy/retinanet_r50-coc_fpn_toy.py': 'toy/resnet50-coc_toy-cls.py',
    'toy/mask-rcnn_hrnetv2p-w8_toy.py': 'toy/hrnetv2p-w8_toy-cls.py',
    'toy/mask-rcnn_hrnetv2p-w8-coc_toy.py': 'toy/hrnetv2p-w8-coc_toy-cls.py',
}
DETECTOR_PRETRAINING = {
    (d if d.startswith('mmdet::') else 'configs/' + d): 'configs/' + p
    for d, p in DETECTOR_PRETRAINING.items()
}
BRIDGE = load_tool('model_converters/pretrain_to_detector')


def metafile_models():
    """Config -> Model entry of the method folders' metafiles."""
    models = {}
    for folder in ('cpwc', 'coc'):
        path = os.path.join(ROOT, 'configs', folder, 'metafile.yml')
        with open(path) as f:
            models.update(
                {m['Config']: m for m in yaml.safe_load(f)['Models']}
            )
    return models


METAFILE_MODELS = metafile_models()


def load(config):
    if config.startswith('mmdet::'):
        return get_config(config)  # pretrained=False: no weights fetched
    return Config.fromfile(os.path.join(ROOT, config))


def header(config):
    """The config's leading comment as one line of text."""
    with open(os.path.join(ROOT, config)) as f:
        lines = f.read().splitlines()
    comment = [
        line[1:].strip()
        for line in lines[
            : next(
                i for i, line in enumerate(lines) if not line.startswith('#')
            )
        ]
    ]
    return ' '.join(comment)


def test_all_pretrain_configs_found():
    # cpwc: 8 ImageNet + 12 CIFAR-100; coc: 8 ImageNet; toy: 9
    folders = [c.split('/')[1] for c in PRETRAIN_CONFIGS]
    assert [folders.count(f) for f in ('cpwc', 'coc', 'toy')] == [20, 8, 9]
    # every row of CPWC Tables 1, 2 and 4 pretrains with one of them
    assert set(CONFIG_ROWS) <= set(PRETRAIN_CONFIGS)
    assert len(CONFIG_ROWS) == 10 + 7 + 2
    assert set(DETECTOR_PRETRAINING.values()) <= set(PRETRAIN_CONFIGS)


@pytest.mark.parametrize('config', PRETRAIN_CONFIGS)
def test_pretrain_config_builds_and_classifies(config):
    cfg = load(config)
    assert cfg.default_scope == 'mmpretrain'
    assert 'Detection convention it feeds:' in header(config)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
        assert type(model).__name__ == 'ImageClassifier'
    num_classes = next(
        n for end, n in NUM_CLASSES.items() if config.endswith(end)
    )
    model.eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 32, 32), mode='tensor')
    assert logits.shape == (1, num_classes)


@pytest.mark.parametrize('detector', sorted(DETECTOR_PRETRAINING))
def test_detector_shares_its_pretraining_convention(detector):
    """Same normalisation, style and conv type (what the converter checks
    on a checkpoint), and every COCO config of ours loads its backbone with
    the ``backbone.`` prefix of a converted checkpoint."""
    pretrain = load(DETECTOR_PRETRAINING[detector])
    det = load(detector)
    have = BRIDGE.convention(
        pretrain.model.get('data_preprocessor') or pretrain.data_preprocessor,
        'to_rgb',
        pretrain.model.backbone,
    )
    BRIDGE.check_convention(
        have, BRIDGE.detector_conventions(det), 'pretraining', detector
    )
    if not detector.startswith(('mmdet::', 'configs/toy/')):
        backbone = det.model.backbone.get('backbone', det.model.backbone)
        assert backbone.init_cfg.type == 'Pretrained'
        assert backbone.init_cfg.prefix == 'backbone.'
        # a checkpoint of pretrain_to_detector.py, named after the
        # pretraining config (without its 8xb32)
        name = os.path.basename(DETECTOR_PRETRAINING[detector])[:-3]
        name = name.replace('8xb32-', '').replace('_8xb32', '')
        if not detector.startswith('configs/cpwc/'):  # older names there
            assert backbone.init_cfg.checkpoint == (
                f'checkpoints/{name}_det.pth'
            )
        shared_head = det.model.get('roi_head', {}).get('shared_head')
        if shared_head:  # C4: layer4 is the shared head
            assert shared_head.init_cfg == dict(
                type='Pretrained',
                checkpoint=backbone.init_cfg.checkpoint,
                prefix='roi_head.shared_head.',
            )


@pytest.mark.parametrize(
    'detector',
    sorted(
        d for d in DETECTOR_PRETRAINING if not d.startswith('configs/toy/')
    ),
)
def test_pretrained_backbone_fits_the_detector(detector):
    """The classifier's backbone tensors land on the detector's backbone,
    key for key and shape for shape (full-size backbones, built alone)."""
    pretrain = load(DETECTOR_PRETRAINING[detector])
    det = load(detector)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        source = MODELS.build(pretrain.model.backbone).state_dict()
    # the parts a classifier's backbone fills: the backbone and, for C4
    # detectors, the shared head (layer4)
    parts = {'backbone.': det.model.backbone}
    shared_head = det.model.get('roi_head', {}).get('shared_head')
    if shared_head:
        parts['roi_head.shared_head.'] = shared_head
    target = {}
    for prefix, part in parts.items():
        part.get('backbone', part).pop('init_cfg', None)
        with DefaultScope.overwrite_default_scope('mmdet'):
            state = DET_MODELS.build(part).state_dict()
        target.update({prefix + k: v for k, v in state.items()})
    placed, unused = BRIDGE.place_keys(
        {'backbone.' + k: v for k, v in source.items()}, target
    )
    assert len(placed) == len(target) and unused == []


def test_pretrain_configs_are_in_the_metafiles():
    for config in PRETRAIN_CONFIGS:
        if config.startswith('configs/toy/'):
            continue
        model = METAFILE_MODELS[config]
        assert (
            model['In Collection']
            == {'cpwc': 'CPWC', 'coc': 'CoC'}[config.split('/')[1]]
        )
        assert model['Name'] == os.path.basename(config)[:-3]
        dataset = 'ImageNet-1k' if config.endswith('_in1k.py') else 'CIFAR-100'
        assert model['Metadata']['Training Data'] == dataset
        (result,) = model['Results']
        assert result['Task'] == 'Image Classification'
        assert result['Dataset'] == dataset
        assert list(result['Metrics']) == ['Top 1 Accuracy']
