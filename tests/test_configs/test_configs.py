"""Every detection config builds and runs; every metafile entry names a
config that builds with the Parameters it records; every toy detection
config trains and evaluates. No test loads weights: models are built, never
initialised from a checkpoint, so nothing reaches for a network or a missing
file. Configs of another scope (mmpretrain's pretraining configs) are built
here only through their metafile entries; their own tests run them."""

import glob
import os
import re

import pytest
import torch
import yaml
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import cpwc_mmdet  # noqa: F401
from cpwc_mmdet.reproduce.batches import recipe_batch
from cpwc_mmdet.reproduce.metafiles import (
    COLLECTIONS,
    count_config,
    metafile_text,
)
from cpwc_mmdet.utils.census import count_params
from tests.helpers import ROOT, toy_overrides

register_all_modules()
ALL_CONFIGS = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(
        os.path.join(ROOT, 'configs', '**', '*.py'), recursive=True
    )
    if '_base_' not in p
)
TOY_CONFIGS = [c for c in ALL_CONFIGS if c.startswith('configs/toy/')]
METAFILES = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, 'configs', '*', 'metafile.yml'))
)
METHOD_READMES = sorted(
    glob.glob(os.path.join(ROOT, 'configs', '*', 'README.md'))
)
#: the Table 3 entry points, documented at these paths
TABLE3_CONFIGS = (
    'configs/faster_rcnn_r50_coco.py',
    'configs/faster_rcnn_r50_cpwc_coco.py',
)


def load_yaml(path):
    with open(os.path.join(ROOT, path)) as f:
        return yaml.safe_load(f)


def metafile_models():
    """(metafile, Model entry) of every model of every metafile."""
    return [
        (path, model)
        for path in METAFILES
        for model in load_yaml(path)['Models']
    ]


def readme_baselines():
    """The mmdet configs the method READMEs name as baselines
    (``mmdet::...py``): they replace our former re-export configs."""
    names = set()
    for path in METHOD_READMES:
        with open(path) as f:
            names.update(re.findall(r'`(mmdet::[\w./-]+\.py)`', f.read()))
    return sorted(names)


def load_config(config):
    if config.startswith('mmdet::'):
        return get_config(config)  # pretrained=False: no weights fetched
    return Config.fromfile(os.path.join(ROOT, config))


def build_model(cfg):
    """Build ``cfg.model`` in the config's own registry scope (mmdet's or
    mmpretrain's), without loading any weights."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        return MODELS.build(cfg.model)


METAFILE_MODELS = metafile_models()
BASELINES = readme_baselines()
#: configs that build mmdet detectors (default_scope 'mmdet')
DETECTION_CONFIGS = [
    c for c in ALL_CONFIGS if load_config(c).get('default_scope') == 'mmdet'
]
TOY_DETECTION_CONFIGS = [c for c in TOY_CONFIGS if c in DETECTION_CONFIGS]


def light_model_cfg(cfg):
    """Fewer proposals / RoIs, so full-width COCO models run on a CPU, and
    no pretrained weights: BN trains (``norm_eval=False``), as it must for
    the stnd / orth / coc rows without their ImageNet statistics."""
    model = cfg.model
    backbone = model.backbone.get('backbone', model.backbone)
    backbone.pop('init_cfg', None)
    backbone.norm_eval = False
    roi_head = model.get('roi_head', {})
    if roi_head.get('shared_head'):
        roi_head.shared_head.pop('init_cfg', None)
    if model.get('test_cfg', {}).get('rpn'):
        model.test_cfg.rpn.update(nms_pre=50, max_per_img=8)
        model.test_cfg.rcnn.max_per_img = 8
    if model.get('train_cfg', {}).get('rcnn'):
        model.train_cfg.rpn_proposal.update(nms_pre=50, max_per_img=16)
        model.train_cfg.rcnn.sampler.num = 8
    return model


def test_all_configs_found():
    coco_configs = [c for c in DETECTION_CONFIGS if c not in TOY_CONFIGS]
    # cpwc/: 2 + the mmdet 1x C4 pair, coc/: 8 + 6 deploy, Table 3: 2 (its
    # setting: test_table3_setting.py); toy/: 6
    assert len(coco_configs) >= 20 and len(TOY_DETECTION_CONFIGS) >= 6
    for name in TABLE3_CONFIGS:
        assert name in ALL_CONFIGS
    assert METAFILES == [
        'configs/coc/metafile.yml',
        'configs/cpwc/metafile.yml',
    ]
    # the READMEs name mmdet's configs in place of our former re-exports
    assert {
        'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
        'mmdet::hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py',
    } <= set(BASELINES)


@pytest.mark.parametrize('config', DETECTION_CONFIGS + BASELINES)
def test_config_builds_and_runs_a_forward(config):
    cfg = load_config(config)
    assert cfg.default_scope == 'mmdet'
    model = MODELS.build(light_model_cfg(cfg))
    with_mask = 'mask_head' in cfg.model.get('roi_head', {})
    packed = demo_mm_inputs(
        2, [[3, 96, 128], [3, 128, 96]], num_classes=3, with_mask=with_mask
    )
    data = model.data_preprocessor(packed, True)
    for m in model.modules():  # running statistics := this batch's
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 1.0
    model.train()
    losses = model(**data, mode='loss')
    terms = [
        t
        for k, v in losses.items()
        if 'loss' in k
        for t in (v if isinstance(v, (list, tuple)) else [v])
    ]
    total = sum(t.sum() for t in terms)
    assert terms and torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(
            **model.data_preprocessor(packed, False), mode='predict'
        )
    assert len(results) == 2 and hasattr(results[0], 'pred_instances')


@pytest.mark.parametrize('folder', sorted(COLLECTIONS))
def test_metafiles_are_derived_from_the_registry(folder):
    """Everything but the counts, as the registry, the configs' recipes and
    the papers' figures give it (tools/misc/update_metafiles.py writes
    them); the counts are checked next."""
    path = os.path.join(ROOT, 'configs', folder, 'metafile.yml')
    with open(path) as f:
        text = f.read()
    models = yaml.safe_load(text)['Models']
    counts = {
        m['Config']: (m['Metadata']['Parameters'], m['Metadata'].get('FLOPs'))
        for m in models
    }
    assert metafile_text(ROOT, folder, counts) == text


def test_a_metafile_flops_count_is_the_census():
    """FLOPs take seconds per detector: one of each collection here."""
    for folder, config in (
        ('cpwc', 'configs/faster_rcnn_r50_cpwc_coco.py'),
        ('coc', 'configs/coc/retinanet_r50-coc_fpn_1x_coco.py'),
    ):
        with open(os.path.join(ROOT, 'configs', folder, 'metafile.yml')) as f:
            models = yaml.safe_load(f)['Models']
        meta = next(m for m in models if m['Config'] == config)['Metadata']
        assert count_config(ROOT, config) == (
            meta['Parameters'],
            meta['FLOPs'],
        )


def test_recipe_batch_is_the_config_names_n_x_b_m():
    """A pretraining config named ``NxbM`` trains M images per process and
    its recipe's total batch (auto_scale_lr.base_batch_size, what
    tools/reproduce.py keeps whatever --gpus is) is N x M; a detection
    config's is 8 x 2 (Table 3's paper-setting pair: 8 x 3, the reference
    README's batch 24 at scale 600)."""
    for path in ALL_CONFIGS:
        cfg = Config.fromfile(os.path.join(ROOT, path))
        found = re.search(r'_(\d+)xb(\d+)', os.path.basename(path))
        if found:
            n, m = map(int, found.groups())
            assert cfg.train_dataloader.batch_size == m, path
            assert recipe_batch(cfg) == n * m, path
        elif '/toy/' not in path:
            paper_setting = 'faster_rcnn_r50' in path
            assert recipe_batch(cfg) == (24 if paper_setting else 16), path


def test_metafiles_follow_mmdets_schema():
    for path in METAFILES:
        meta = load_yaml(path)
        collections = {c['Name']: c for c in meta['Collections']}
        for collection in collections.values():
            assert collection['Paper']['URL'].startswith('https://')
            assert collection['Paper']['Title']
            assert collection['README'] == os.path.join(
                os.path.dirname(path), 'README.md'
            )
            assert os.path.isfile(os.path.join(ROOT, collection['README']))
            assert os.path.isfile(
                os.path.join(ROOT, collection['Code']['URL'])
            )
            assert collection['Code']['Version']
        for model in meta['Models']:
            assert model['In Collection'] in collections
            config = model['Config']
            assert (
                model['Name'] == os.path.splitext(os.path.basename(config))[0]
            )
            assert model['Metadata']['Training Data']
            assert isinstance(model['Metadata']['Parameters'], int)
            for result in model.get('Results', []):
                assert result['Task'] and result['Dataset']
                assert isinstance(result['Metrics'], dict)
            if config in DETECTION_CONFIGS:
                assert model['Metadata']['Training Data'] == 'COCO'
                assert isinstance(model['Metadata']['FLOPs'], int)
                for result in model.get('Results', []):
                    assert result['Dataset'] == 'COCO'
                    assert result['Task'] in (
                        'Object Detection',
                        'Instance Segmentation',
                    )
                    assert set(result['Metrics']) <= {'box AP', 'mask AP'}
    names = [model['Name'] for _, model in METAFILE_MODELS]
    assert len(names) == len(set(names))


def test_every_config_is_in_a_metafile():
    """Toy configs and ``_base_`` files aside, every .py under configs/ is a
    Model of some metafile, Table 3's two configs included."""
    named = {model['Config'] for _, model in METAFILE_MODELS}
    assert set(TABLE3_CONFIGS) <= named
    unnamed = [
        c for c in ALL_CONFIGS if c not in TOY_CONFIGS and c not in named
    ]
    assert unnamed == []


@pytest.mark.parametrize(
    'metafile, model',
    METAFILE_MODELS,
    ids=[model['Name'] for _, model in METAFILE_MODELS],
)
def test_metafile_model_builds_with_its_parameters(metafile, model):
    config = model['Config']
    assert os.path.isfile(os.path.join(ROOT, config)), (metafile, config)
    cfg = load_config(config)
    built = build_model(cfg)
    assert count_params(built) == model['Metadata']['Parameters']


@pytest.mark.parametrize('config', [c for c in ALL_CONFIGS if '/deploy/' in c])
def test_deploy_config_has_the_baselines_parameters(config):
    """A deploy config re-parameterises to plain convs: the same parameter
    names and shapes as mmdet's baseline it was derived from."""
    baseline = {
        'retinanet': 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
        'mask-rcnn': 'mmdet::hrnet/mask-rcnn_hrnetv2p-w18-1x_coco.py',
    }[os.path.basename(config).split('_')[0]]
    assert baseline in BASELINES
    deploy = build_model(load_config(config))
    plain = build_model(load_config(baseline))
    assert {k: v.shape for k, v in deploy.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }


@pytest.mark.parametrize('config', TOY_DETECTION_CONFIGS)
def test_toy_config_trains_and_evaluates(config, toy_root, tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, config))
    cfg.merge_from_dict(toy_overrides(toy_root, tmp_path))
    # after 2 iterations every score is still near the prior: keep them all,
    # so pycocotools has detections to evaluate
    test_cfg = cfg.model.test_cfg
    (test_cfg.rcnn if 'rcnn' in test_cfg else test_cfg).score_thr = 0.0
    # and BN's running statistics follow the last batch (momentum 0.1 needs
    # hundreds of iterations before eval mode sees sane activations)
    cfg.model.backbone.norm_cfg = dict(
        type='BN', requires_grad=True, momentum=1.0
    )
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = runner.message_hub.log_scalars
    assert runner.iter == 2
    assert torch.isfinite(torch.tensor(scalars['train/loss'].current()))
    assert 'val/coco/bbox_mAP' in scalars
    if 'segm' in cfg.val_evaluator.metric:
        assert 'val/coco/segm_mAP' in scalars
    assert os.path.isfile(os.path.join(tmp_path, 'iter_2.pth'))
