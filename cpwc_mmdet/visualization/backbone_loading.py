"""A config's backbone as the analysis tools draw it: initialised as
training starts, or with a checkpoint's weights, and the normalisation its
images get."""

import logging
import warnings
from typing import List, Optional, Tuple

import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmengine.runner import set_random_seed

from ..utils.checkpoint_fit import describe_mismatch
from ..utils.checkpoint_io import read_state_dict
from ..utils.checks import has_pretrained_init
from ..utils.errors import FrozenNormWarning, UserInputError


def drop_pretrained_init(backbone_cfg: dict) -> None:
    """Remove a ``Pretrained`` ``init_cfg`` from a backbone config (and
    from the one a ``CoCBackbone`` / ``CPWCBackbone`` wraps), in place:
    the weights come from the checkpoint given, or from initialisation."""
    for cfg in (backbone_cfg, backbone_cfg.get('backbone')):
        if isinstance(cfg, dict) and has_pretrained_init(cfg.get('init_cfg')):
            cfg['init_cfg'] = None


def build_model(cfg: Config) -> nn.Module:
    """The model of an mmdet or mmpretrain config (``default_scope``)."""
    if cfg.get('default_scope') == 'mmpretrain':
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules

        scope = 'mmpretrain'
    else:
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules

        scope = 'mmdet'
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg.model)


def backbone_state(state: dict) -> dict:
    """The backbone's keys of a detector's or classifier's state dict
    (``backbone.`` removed); a backbone's own state dict as it is."""
    prefix = 'backbone.'
    if not any(key.startswith(prefix) for key in state):
        return dict(state)
    return {
        key[len(prefix) :]: value
        for key, value in state.items()
        if key.startswith(prefix)
    }


def load_backbone(
    cfg: Config, checkpoint: Optional[str] = None, config: str = 'config'
) -> nn.Module:
    """The backbone of ``cfg``'s model, in eval mode, without gradients.

    Built as training builds it (after seeding with the config's
    ``randomness.seed``, if any) and initialised by its ``init_weights``
    (without the ``Pretrained`` step); with ``checkpoint``, loaded from it
    exactly.

    Args:
        cfg (Config): an mmdet or mmpretrain config with a
            ``model.backbone``.
        checkpoint (str, optional): a detector's, classifier's or
            backbone's checkpoint.
        config (str): the config's name, for messages.

    Raises:
        UserInputError: one line: the config has no backbone, or the
            checkpoint is unreadable or does not fit.
    """
    if not isinstance(cfg.get('model'), dict) or 'backbone' not in cfg.model:
        raise UserInputError(f'{config} defines no model.backbone')
    drop_pretrained_init(cfg.model.backbone)
    seed = (cfg.get('randomness') or {}).get('seed')
    if seed is not None:  # the same random weights each time
        set_random_seed(seed)
    backbone = build_model(cfg).backbone
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # not every parameter's init at INFO
    try:
        with warnings.catch_warnings():  # nothing trains here
            warnings.simplefilter('ignore', FrozenNormWarning)
            backbone.init_weights()
    finally:
        logger.setLevel(level)
    if checkpoint is not None:
        _, state = read_state_dict(checkpoint)
        state = backbone_state(state)
        mismatch = describe_mismatch(backbone, state)
        if mismatch is not None:
            raise UserInputError(
                f'checkpoint {checkpoint} does not fit the backbone of '
                f'{config}: {mismatch}'
            )
        backbone.load_state_dict(state, strict=True)
    backbone.eval()  # mmdet's ResNet.train returns None, not the module
    return backbone.requires_grad_(False)


def input_normalisation(cfg: Config) -> Tuple[List[float], List[float], bool]:
    """``(mean, std, to_rgb)`` of the images ``cfg``'s model takes: its
    data preprocessor's (mmdet ``model.data_preprocessor``, mmpretrain
    ``data_preprocessor``); mean 0, std 1, BGR when it gives none."""
    preprocessor = (
        cfg.model.get('data_preprocessor')
        or cfg.get('data_preprocessor')
        or {}
    )
    mean = list(preprocessor.get('mean') or (0.0, 0.0, 0.0))
    std = list(preprocessor.get('std') or (1.0, 1.0, 1.0))
    to_rgb = bool(
        preprocessor.get('bgr_to_rgb', preprocessor.get('to_rgb', False))
    )
    return mean, std, to_rgb
