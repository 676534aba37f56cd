"""CoCResNet trains from scratch in mmdet's stock detectors: its layers
start at a Kaiming conv's gain, so with the stock configs' frozen BN and
``zero_init_residual=False`` the first losses are those of a ResNet, not
NaN or 1e19 (a standardised 3x3 kernel of 256 channels has a gain of 48);
and a config that freezes BN while starting from random weights says so.

The detectors are mmdet's own configs, full width, with only the backbone
type swapped, no pretrained weights and one 128 px image; the ResNet and
the CoCResNet run under the same neck and head weights.
"""

import logging
import os
import warnings

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import DefaultScope

from cpwc_mmdet.backbones import CoCResNet, CPWCResNet
from cpwc_mmdet.utils.errors import FrozenNormWarning
from tests.test_backbones.test_dropin_mmdet import CONFIG_ROOT, swapped

#: the 11 stock detectors whose first loss was NaN or ~1e19 with CoCResNet
#: (frozen BN, zero_init_residual=False) before its layers started at a
#: Kaiming conv's gain
STOCK = {
    'detr': 'detr/detr_r50_8xb2-150e_coco.py',
    'deformable-detr': 'deformable_detr/deformable-detr_r50_16xb2-50e_coco.py',
    'dino': 'dino/dino-4scale_r50_8xb2-12e_coco.py',
    'sparse-rcnn': 'sparse_rcnn/sparse-rcnn_r50_fpn_1x_coco.py',
    'fcos': 'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
    'condinst': 'condinst/condinst_r50_fpn_ms-poly-90k_coco_instance.py',
    'solov2': 'solov2/solov2_r50_fpn_1x_coco.py',
    'gcnet': 'gcnet/mask-rcnn_r50-gcb-r4-c3-c5_fpn_1x_coco.py',
    'panoptic-fpn': 'panoptic_fpn/panoptic-fpn_r50_fpn_1x_coco.py',
    'mask2former': 'mask2former/mask2former_r50_8xb2-lsj-50e_coco.py',
    'tood': 'tood/tood_r50_fpn_1x_coco.py',
}
IMAGE_SIZE = 128
#: "within a few times ResNet's": the first loss of the CoC detector over
#: the ResNet one's lies in (1 / MAX_RATIO, MAX_RATIO); measured 0.64-1.04
MAX_RATIO = 3.0


def stock_cfg(path: str) -> Config:
    """The stock config's ``model``, from random weights, shortened for a
    CPU where the backbone is not concerned: no fixed 1024 px batch pad
    (Mask2Former's LSJ), one transformer layer where there are six or nine
    (DETR, Deformable DETR, DINO, Mask2Former), and DINO's 900 queries cut
    to the 300 that 128 px give tokens for."""
    model = Config.fromfile(os.path.join(CONFIG_ROOT, path)).model
    model.backbone.update(init_cfg=None, zero_init_residual=False)
    model.data_preprocessor.pop('batch_augments', None)
    transformer = model.get('panoptic_head', model)
    for part in ('encoder', 'decoder', 'transformer_decoder'):
        if part in transformer:
            transformer[part].num_layers = 1
    if 'pixel_decoder' in transformer:
        transformer.pixel_decoder.encoder.num_layers = 1
    if model.get('num_queries', 0) > 300:
        model.num_queries = 300
    return model


@pytest.fixture
def quiet_init():
    """mmengine logs every parameter's init at INFO (thousands of lines);
    TOOD's head reads the epoch from the message hub, as in a run."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    MessageHub.get_current_instance().update_info('epoch', 0)
    yield
    logger.setLevel(level)


@torch.no_grad()
def first_loss(model, data) -> float:
    model.train()
    batch = model.data_preprocessor(data, True)
    loss, _ = model.parse_losses(model(**batch, mode='loss'))
    return float(loss)


@pytest.mark.parametrize('name', sorted(STOCK))
def test_first_loss_is_a_resnets(name, quiet_init):
    cfg = stock_cfg(STOCK[name])
    data = demo_mm_inputs(
        1,
        [(3, IMAGE_SIZE, IMAGE_SIZE)],
        num_items=[3],
        num_classes=80,
        with_mask=True,
        with_semantic=name == 'panoptic-fpn',
    )
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg)
        model.init_weights()
        resnet = first_loss(model, data)
        model.backbone = MODELS.build(swapped(cfg.backbone, 'coc'))
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FrozenNormWarning)
            model.backbone.init_weights()
        coc = first_loss(model, data)
    assert type(model.backbone) is CoCResNet
    assert model.backbone.norm_eval  # the stock configs freeze BN
    assert torch.isfinite(torch.tensor([resnet, coc])).all(), (resnet, coc)
    assert 1 / MAX_RATIO < coc / resnet < MAX_RATIO, (resnet, coc)


def frozen_norm_warnings(backbone) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        backbone.init_weights()
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, FrozenNormWarning)
    ]


@pytest.mark.parametrize(
    'kwargs,frozen',
    [
        (dict(), 'norm_eval=True'),  # mmdet's ResNet defaults
        (
            dict(
                norm_eval=False,
                norm_cfg=dict(type='BN', requires_grad=False),
                conversion=dict(type='stnd'),
            ),
            'norm_cfg requires_grad=False',
        ),
    ],
)
def test_frozen_bn_from_scratch_warns_in_one_line(kwargs, frozen):
    messages = frozen_norm_warnings(CoCResNet(depth=18, **kwargs))
    assert len(messages) == 1
    message = messages[0]
    assert '\n' not in message
    assert frozen in message
    assert 'norm_eval=False' in message and 'Pretrained' in message


@pytest.mark.parametrize(
    'backbone',
    [
        lambda: CoCResNet(depth=18, norm_eval=False),  # trainable BN
        lambda: CoCResNet(depth=18, deploy=True),  # plain convs
        lambda: CPWCResNet(depth=18),  # not a standardised layer
    ],
)
def test_no_warning_when_bn_trains_or_the_convs_are_plain(backbone):
    assert frozen_norm_warnings(backbone()) == []


def test_no_warning_with_pretrained_weights(tmp_path):
    path = str(tmp_path / 'coc18.pth')
    torch.save(CoCResNet(depth=18).state_dict(), path)
    backbone = CoCResNet(
        depth=18, init_cfg=dict(type='Pretrained', checkpoint=path)
    )
    assert frozen_norm_warnings(backbone) == []
