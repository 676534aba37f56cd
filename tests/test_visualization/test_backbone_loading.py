"""cpwc_mmdet.visualization.backbone_loading: a config's backbone as the
analysis tools draw it, its checkpoint loaded exactly."""

import os

import pytest
import torch
from mmengine.config import Config

from cpwc_mmdet.layers import CoCConv2d
from cpwc_mmdet.utils.errors import UserInputError
from cpwc_mmdet.visualization import input_normalisation, load_backbone
from tests.helpers import ROOT

TOY_COC = os.path.join(ROOT, 'configs/toy/retinanet_r50-coc_fpn_toy.py')
TOY_CLS = os.path.join(ROOT, 'configs/toy/resnet50-coc_toy-cls.py')


def config(path=TOY_COC):
    return Config.fromfile(path)


def test_a_detector_or_backbone_checkpoint_loads_exactly(tmp_path):
    backbone = load_backbone(config())
    assert not backbone.training
    assert not any(p.requires_grad for p in backbone.parameters())
    assert isinstance(backbone.layer1[0].conv2, CoCConv2d)
    state = {
        k: torch.randn_like(v) if v.is_floating_point() else v + 1
        for k, v in backbone.state_dict().items()
    }
    detector = dict(state_dict={'backbone.' + k: v for k, v in state.items()})
    detector['state_dict']['bbox_head.conv.weight'] = torch.zeros(1)
    for name, saved in (('det.pth', detector), ('bb.pth', state)):
        torch.save(saved, tmp_path / name)
        loaded = load_backbone(config(), str(tmp_path / name)).state_dict()
        for key, value in state.items():
            torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_a_checkpoint_that_does_not_fit_is_one_line(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'backbone.conv1.weight': torch.zeros(1)}, path)
    with pytest.raises(UserInputError) as err:
        load_backbone(config(), str(path), 'toy.py')
    message = str(err.value)
    assert message.startswith(f'checkpoint {path} does not fit the backbone')
    assert 'missing keys' in message and '\n' not in message


def test_a_pretrained_init_cfg_is_not_followed():
    """The weights come from the checkpoint given, or from init_weights:
    the config's checkpoint path (absent here) is never read."""
    cfg = config(
        os.path.join(ROOT, 'configs/coc/retinanet_r50-coc_fpn_1x_coco.py')
    )
    cfg.model.backbone.base_channels = 8
    cfg.model.neck.in_channels = [32, 64, 128, 256]
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert isinstance(load_backbone(cfg).conv1, CoCConv2d)


def test_normalisation_of_detectors_and_classifiers():
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    assert input_normalisation(config()) == (mean, std, True)
    assert input_normalisation(config(TOY_CLS)) == (mean, std, True)
    assert input_normalisation(Config(dict(model=dict()))) == (
        [0.0] * 3,
        [1.0] * 3,
        False,
    )
