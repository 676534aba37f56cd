"""mmdet 3.3's train / test options, applied to a config as mmdet's
tools/train.py and tools/test.py apply them, with one-line errors instead of
tracebacks and assertions."""

import os.path as osp
import sys
from copy import deepcopy
from typing import Optional

import torch
from mmengine.config import Config, ConfigDict

from ..utils.errors import UserInputError

#: mmdet 3.3 tools/test.py's ``--tta`` defaults for a config without them
DEFAULT_TTA_MODEL = dict(
    type='DetTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100),
)
FLIP_TTA_META_KEYS = (
    'img_id',
    'img_path',
    'ori_shape',
    'img_shape',
    'scale_factor',
    'flip',
    'flip_direction',
)


def warn(tool: str, message: str) -> None:
    """Print ``tool: warning: message`` on one line of stderr."""
    print(f'{tool}: warning: {" ".join(message.split())}', file=sys.stderr)


def type_name(cfg_type) -> str:
    """A config ``type`` as a name (strings, or classes in new-style
    configs)."""
    return (
        cfg_type
        if isinstance(cfg_type, str)
        else getattr(cfg_type, '__name__', str(cfg_type))
    )


def apply_amp(cfg: Config) -> None:
    """``--amp``: an ``OptimWrapper`` becomes an ``AmpOptimWrapper`` with a
    dynamic loss scale; an ``AmpOptimWrapper`` is kept as configured (with a
    warning); any other wrapper type is an error rather than silently
    replaced. AMP needs a CUDA device.

    Raises:
        UserInputError: another wrapper type, or no CUDA device.
    """
    wrapper = cfg.get('optim_wrapper')
    kind = type_name(wrapper.get('type', 'OptimWrapper')) if wrapper else None
    if kind == 'AmpOptimWrapper':
        warn(
            'train.py',
            'AMP training is already enabled in your config '
            '(optim_wrapper.type=AmpOptimWrapper): --amp keeps its settings',
        )
    elif kind == 'OptimWrapper':
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:
        raise UserInputError(
            f'--amp turns an OptimWrapper into an AmpOptimWrapper, but '
            f'optim_wrapper.type is {kind!r}; enable mixed precision in that '
            "wrapper's own settings instead"
        )
    if not torch.cuda.is_available():
        raise UserInputError(
            '--amp needs a CUDA device and none is visible;'
            ' on a CPU run without --amp'
        )


def enable_auto_scale_lr(cfg: Config) -> None:
    """``--auto-scale-lr``: needs ``auto_scale_lr = dict(enable=...,
    base_batch_size=N)`` in the config, as mmdet's tools/train.py does.

    Raises:
        UserInputError: naming what the config lacks.
    """
    scale = cfg.get('auto_scale_lr')
    if not isinstance(scale, dict):
        missing = 'auto_scale_lr'
    else:
        missing = ', '.join(
            f'auto_scale_lr.{key}'
            for key in ('enable', 'base_batch_size')
            if key not in scale
        )
    if missing:
        raise UserInputError(
            f'--auto-scale-lr needs {missing} in the config: '
            'auto_scale_lr = dict(enable=False, base_batch_size=N), N being '
            'the total batch size its lr was tuned for'
        )
    cfg.auto_scale_lr.enable = True


def apply_resume(cfg: Config, resume: Optional[str]) -> None:
    """``--resume`` (mmdet 3.3): ``'auto'`` resumes from the work dir's
    latest checkpoint (training starts afresh if there is none), a path
    resumes from that checkpoint.

    Raises:
        UserInputError: a local checkpoint path that does not exist.
    """
    if resume is None:
        return
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
        return
    if '://' not in resume and not osp.isfile(resume):
        raise UserInputError(f'--resume {resume}: no such checkpoint')
    cfg.resume, cfg.load_from = True, resume


def enable_visualization(
    cfg: Config, show: bool, show_dir: Optional[str], wait_time: float
) -> None:
    """``--show`` / ``--show-dir`` / ``--wait-time`` (mmdet 3.3): turn on the
    config's ``default_hooks.visualization``. A relative ``--show-dir`` is
    under ``work_dir/<timestamp>/`` (DetVisualizationHook's rule).

    Raises:
        UserInputError: the config has no visualization hook.
    """
    if not (show or show_dir):
        return
    hook = (cfg.get('default_hooks') or {}).get('visualization')
    if hook is None:
        raise UserInputError(
            '--show / --show-dir need default_hooks.visualization = '
            "dict(type='DetVisualizationHook') in the config"
        )
    hook['draw'] = True
    if show:
        hook['show'] = True
        hook['wait_time'] = wait_time
    if show_dir:
        hook['test_out_dir'] = show_dir


def innermost_dataset(loader_cfg: dict) -> dict:
    """The dataset a dataloader cfg reads, through dataset wrappers."""
    dataset = loader_cfg['dataset']
    while 'dataset' in dataset:
        dataset = dataset['dataset']
    return dataset


def flip_tta_pipeline(test_pipeline: list) -> list:
    """mmdet 3.3's default TTA pipeline: the test pipeline whose last step
    (PackDetInputs) becomes flipped + unflipped views, each packed."""
    pipeline = deepcopy(test_pipeline)
    pipeline[-1] = dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='RandomFlip', prob=1.0),
                dict(type='RandomFlip', prob=0.0),
            ],
            [dict(type='PackDetInputs', meta_keys=FLIP_TTA_META_KEYS)],
        ],
    )
    return pipeline


def apply_tta(cfg: Config) -> None:
    """``--tta`` (mmdet 3.3): wrap the model in the config's ``tta_model``
    and test with its ``tta_pipeline``. As in mmdet, a config without them
    gets (with a warning) DetTTAModel (NMS at IoU 0.5, 100 boxes) over
    flipped and unflipped views.

    Raises:
        UserInputError: a config without test_dataloader.
    """
    if not cfg.get('test_dataloader'):
        raise UserInputError('--tta needs a test_dataloader in the config')
    dataset = innermost_dataset(cfg.test_dataloader)
    if 'tta_model' not in cfg:
        warn(
            'test.py',
            "no tta_model in the config: --tta uses mmdet's "
            'default DetTTAModel (NMS IoU 0.5, 100 boxes per image)',
        )
        cfg.tta_model = deepcopy(DEFAULT_TTA_MODEL)
    if 'tta_pipeline' not in cfg:
        warn(
            'test.py',
            'no tta_pipeline in the config: --tta tests flipped '
            'and unflipped views of the test pipeline',
        )
        cfg.tta_pipeline = flip_tta_pipeline(dataset['pipeline'])
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    dataset['pipeline'] = cfg.tta_pipeline
