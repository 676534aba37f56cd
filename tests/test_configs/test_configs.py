"""Every config builds and runs; every toy config trains and evaluates."""
import glob
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules

import cpwc_mmdet  # noqa: F401
from tests.toy_data import ROOT, toy_overrides

register_all_modules()
ALL_CONFIGS = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, 'configs', '**', '*.py'),
                       recursive=True) if '_base_' not in p)
TOY_CONFIGS = [c for c in ALL_CONFIGS if c.startswith('configs/toy/')]


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
    assert len(ALL_CONFIGS) >= 12 + 6
    for name in ('configs/faster_rcnn_r50_coco.py',
                 'configs/faster_rcnn_r50_cpwc_coco.py'):
        assert name in ALL_CONFIGS


@pytest.mark.parametrize('config', ALL_CONFIGS)
def test_config_builds_and_runs_a_forward(config):
    cfg = Config.fromfile(os.path.join(ROOT, config))
    model = MODELS.build(light_model_cfg(cfg))
    with_mask = 'mask_head' in cfg.model.get('roi_head', {})
    packed = demo_mm_inputs(2, [[3, 96, 128], [3, 128, 96]],
                            num_classes=3, with_mask=with_mask)
    data = model.data_preprocessor(packed, True)
    for m in model.modules():  # running statistics := this batch's
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 1.0
    model.train()
    losses = model(**data, mode='loss')
    terms = [t for k, v in losses.items() if 'loss' in k
             for t in (v if isinstance(v, (list, tuple)) else [v])]
    total = sum(t.sum() for t in terms)
    assert terms and torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False),
                        mode='predict')
    assert len(results) == 2 and hasattr(results[0], 'pred_instances')


def test_table3_setting():
    cfg = Config.fromfile(os.path.join(ROOT,
                                       'configs/faster_rcnn_r50_cpwc_coco.py'))
    roi = cfg.model.roi_head
    assert cfg.model.backbone.type == 'CPWCResNet'
    assert cfg.model.backbone.num_stages == 3
    assert roi.shared_head.type == 'CPWCResLayer'
    assert roi.shared_head.stride == 1
    assert roi.bbox_roi_extractor.roi_layer.output_size == 7
    assert roi.bbox_roi_extractor.roi_layer.type == 'RoIAlign'
    assert roi.bbox_head.roi_feat_size == 7 and roi.bbox_head.with_avg_pool


@pytest.mark.parametrize('config', TOY_CONFIGS)
def test_toy_config_trains_and_evaluates(config, toy_root, tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, config))
    cfg.merge_from_dict(toy_overrides(toy_root, tmp_path))
    # after 2 iterations every score is still near the prior: keep them all,
    # so pycocotools has detections to evaluate
    test_cfg = cfg.model.test_cfg
    (test_cfg.rcnn if 'rcnn' in test_cfg else test_cfg).score_thr = 0.0
    # and BN's running statistics follow the last batch (momentum 0.1 needs
    # hundreds of iterations before eval mode sees sane activations)
    cfg.model.backbone.norm_cfg = dict(type='BN', requires_grad=True,
                                       momentum=1.0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = runner.message_hub.log_scalars
    assert runner.iter == 2
    assert torch.isfinite(torch.tensor(scalars['train/loss'].current()))
    assert 'val/coco/bbox_mAP' in scalars
    if 'segm' in cfg.val_evaluator.metric:
        assert 'val/coco/segm_mAP' in scalars
    assert os.path.isfile(os.path.join(tmp_path, 'iter_2.pth'))
