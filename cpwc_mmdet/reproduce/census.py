"""Params and FLOPs of a row's model, counted once and kept in its work dir.

The counting is the project's (``cpwc_mmdet.utils.census``, as
``tools/analysis_tools/get_flops.py``): a detector's parameters are the
whole model's and its FLOPs are ``extract_feat``'s (backbone + neck, every
operator mmengine's FlopAnalyzer counts) on one image; a classifier's
FLOPs are the conv + fc multiply-adds of its logits, the figure CPWC
Tables 1 and 2 print. No dataset or checkpoint is needed.

Both forms are counted: ``params`` / ``flops`` of the deploy form (CoC,
stnd and orth re-parameterised to plain convs: what is shipped, the
baseline's figures) and ``train_params`` / ``train_flops`` of the form
that trains. CPWC has one form.
"""

import json
import os
from typing import Dict, Tuple

import torch
from mmdet.registry import MODELS as DET_MODELS
from mmdet.utils import register_all_modules as register_mmdet
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as CLS_MODELS
from mmpretrain.utils import register_all_modules as register_mmpretrain

from ..conversion import switch_model_to_deploy
from ..utils.atomic_files import atomic_write
from ..utils.census import (
    WEIGHT_OPS,
    ClassifierLogits,
    FeatureExtractor,
    count_params,
    flops_by_operator,
)


def model_census(config: str, shape: Tuple[int, int]) -> Dict:
    """``{'params', 'flops', 'train_params', 'train_flops', 'flops_of',
    'input'}`` of ``config``'s model (an mmdet detector or an mmpretrain
    classifier) on one ``shape`` image."""
    cfg = Config.fromfile(config)
    inputs = (torch.rand(1, 3, *shape),)
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    if cfg.get('default_scope') == 'mmpretrain':
        register_mmpretrain(init_default_scope=False)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = CLS_MODELS.build(cfg.model)

        def flops(m):
            counts = flops_by_operator(ClassifierLogits(m), inputs)
            return sum(counts.get(op, 0) for op in WEIGHT_OPS)

        what = 'conv + fc multiply-adds of the logits'
    else:
        register_mmdet(init_default_scope=False)
        with DefaultScope.overwrite_default_scope('mmdet'):
            model = DET_MODELS.build(cfg.model)

        def flops(m):
            return sum(flops_by_operator(FeatureExtractor(m), inputs).values())

        what = 'multiply-adds of extract_feat (backbone + neck)'
    train_params, train_flops = count_params(model), flops(model)
    if switch_model_to_deploy(model):  # in place; CPWC has one form
        params, deploy_flops = count_params(model), flops(model)
    else:
        params, deploy_flops = train_params, train_flops
    return dict(
        params=params,
        flops=deploy_flops,
        train_params=train_params,
        train_flops=train_flops,
        flops_of=what,
        input=list(shape),
    )


def cached_census(config: str, shape: Tuple[int, int], path: str) -> Dict:
    """:func:`model_census`, read from ``path`` when it was counted before
    for the same config and shape, else counted and written there."""
    if os.path.isfile(path):
        with open(path) as f:
            cached = json.load(f)
        if (
            cached.get('config') == config
            and cached.get('input') == list(shape)
            and 'train_params' in cached  # counted by this version
        ):
            return cached
    result = dict(config=config, **model_census(config, shape))
    atomic_write(json.dumps(result, indent=1).encode(), path)
    return result
