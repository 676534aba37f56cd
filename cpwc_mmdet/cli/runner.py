"""What the runner tools (train, test, pretrain) share: their options,
loading a config, the launcher, the runtime hooks, building the runner."""

import argparse
import atexit
import os
import os.path as osp
import sys

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..engine import init_cpu_process_group
from ..utils.checkpoint_fit import describe_mismatch
from ..utils.errors import UserInputError
from ..utils.metrics_file import numeric_metrics, write_metrics
from ..utils.model_wrappers import bare_model
from .errors import build_user_error
from .preflight import DECODE_SAMPLE, preflight
from .tool_options import apply_amp, apply_resume, enable_auto_scale_lr
from .train_guards import (
    build_loops,
    check_resume_fits,
    check_work_dir,
    training_failures_in_one_line,
    warn_inexact_resume,
)


def add_run_arguments(parser) -> None:
    """Options every runner tool shares (mmdet's names): --work-dir,
    --cfg-options, --launcher, --local_rank."""
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config items, key=value',
    )
    parser.add_argument(
        '--launcher',
        default='none',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument(
        '--decode-images',
        type=decode_count,
        default=DECODE_SAMPLE,
        metavar='N|all',
        help='before the run, every image the annotation files name must '
        'exist and be non-empty, and N of each dataloader (spread over it) '
        f"must decode; 'all' decodes every one (default {DECODE_SAMPLE})",
    )


def decode_count(value: str):
    """``--decode-images``: a count >= 0, or ``'all'``."""
    if value == 'all':
        return value
    if not value.isdigit():
        raise argparse.ArgumentTypeError(
            f"give a number of images or 'all', not {value!r}"
        )
    return int(value)


def add_train_arguments(parser) -> None:
    """The options of mmdet 3.3's tools/train.py: --amp, --auto-scale-lr,
    --resume [CKPT], and the run options (:func:`add_run_arguments`)."""
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision'
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the total batch size',
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work '
        'dir when no CKPT is given',
    )
    add_run_arguments(parser)


def train(cfg: Config, args) -> None:
    """Apply :func:`add_train_arguments`' options to ``cfg``, add the
    project's runtime hooks, check the inputs, and train."""
    if args.amp:
        apply_amp(cfg)
    if args.auto_scale_lr:
        if cfg.get('default_scope') == 'mmpretrain' and isinstance(
            cfg.get('auto_scale_lr'), dict
        ):  # mmpretrain's bases state base_batch_size only
            cfg.auto_scale_lr.setdefault('enable', False)
        enable_auto_scale_lr(cfg)
    apply_resume(cfg, args.resume)
    add_runtime_hooks(cfg)
    preflight(
        cfg,
        splits=('train', 'val'),
        decode=getattr(args, 'decode_images', DECODE_SAMPLE),
    )
    check_work_dir(cfg)
    warn_inexact_resume(cfg)
    runner = build_runner(cfg)
    check_resume_fits(runner, cfg)
    build_loops(runner)
    with training_failures_in_one_line(cfg):
        runner.train()


def export_local_rank(args) -> None:
    """As mmdet's tools: ``--local_rank`` (what ``torch.distributed.launch``
    passes without ``--use-env``) becomes ``LOCAL_RANK`` unless the launcher
    set that already."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))


def load_run_config(args) -> Config:
    """The config of ``args.config`` with the shared options applied."""
    cfg = load_config(args.config, args.cfg_options)
    set_launcher(cfg, args.launcher)
    set_work_dir(cfg, args.config, args.work_dir)
    return cfg


def load_config(path: str, cfg_options=None) -> Config:
    """Load ``path`` (with ``--cfg-options``), or a one-line error."""
    if not osp.isfile(path):
        raise UserInputError(f'config file {path} does not exist')
    try:
        cfg = Config.fromfile(path)
    except Exception as err:  # syntax errors, bad _base_ paths, ...
        raise build_user_error(err) from err
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def set_work_dir(cfg: Config, config_path: str, work_dir=None) -> None:
    """``--work-dir`` > the config's work_dir > ./work_dirs/<config name>."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            './work_dirs', osp.splitext(osp.basename(config_path))[0]
        )


#: the hooks the project's configs run (``configs/_base_/``), named
#: across registries (a pretraining config's default scope is mmpretrain)
SAFETY_HOOKS = (
    'mmdet.NonFiniteLossHook',
    'mmdet.RNGStateHook',
    'mmdet.NormRecalibrationHook',
)
CHECKPOINT_HOOK = 'mmdet.AtomicCheckpointHook'


def _short_type(kind) -> str:
    return str(getattr(kind, '__name__', kind)).split('.')[-1]


def add_runtime_hooks(cfg: Config) -> None:
    """What the project's runtime base gives its own configs, for any
    config: checkpoints saved atomically and rotated only after the new one
    is saved (mmengine's ``CheckpointHook`` becomes
    ``AtomicCheckpointHook``), a stop at the first NaN / inf loss on any
    rank, every rank's RNG states in checkpoints, and BN statistics fitted
    to CoC convs inflated with orth=True. Hooks already there are kept."""
    hooks = list(cfg.get('custom_hooks') or [])
    present = {_short_type(h.get('type')) for h in hooks}
    hooks += [dict(type=k) for k in SAFETY_HOOKS if k[6:] not in present]
    cfg.custom_hooks = hooks
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if checkpoint and _short_type(checkpoint.get('type')) == 'CheckpointHook':
        checkpoint['type'] = CHECKPOINT_HOOK


#: what ``--launcher pytorch`` reads from the environment (torchrun and
#: ``torch.distributed.launch`` set it; LOCAL_RANK may come from --local_rank)
TORCH_LAUNCHER_ENV = (
    'RANK',
    'WORLD_SIZE',
    'MASTER_ADDR',
    'MASTER_PORT',
    'LOCAL_RANK',
)


def destroy_process_group_at_exit() -> None:
    """Destroy the process group (once made, by us or by mmengine) while
    the interpreter is still whole. Left to interpreter teardown, gloo's
    worker threads can end the process in SIGABRT ("terminate called
    without an active exception") after the work is done, failing a run
    that succeeded (pytorch/pytorch#190489); NCCL warns."""
    atexit.register(_destroy_process_group)


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def set_launcher(cfg: Config, launcher: str) -> None:
    """Record the launcher. Without CUDA, a distributed run joins a gloo
    process group here and uses a CPU-capable DDP wrapper, since mmengine
    0.10.7's own set-up assumes CUDA. Either way the process group is
    destroyed at exit."""
    cfg.launcher = launcher
    if launcher == 'none':
        return
    destroy_process_group_at_exit()
    missing = [key for key in TORCH_LAUNCHER_ENV if key not in os.environ]
    if launcher == 'pytorch' and missing:
        raise UserInputError(
            f'--launcher pytorch needs {", ".join(missing)} '
            'from torchrun (use tools/dist_train.sh or '
            'tools/dist_test.sh)'
        )
    if not torch.cuda.is_available():
        print(
            'no CUDA device: torch.distributed runs on the CPU with gloo',
            file=sys.stderr,
        )
        env_cfg = dict(cfg.get('env_cfg') or {})
        env_cfg['dist_cfg'] = {
            **(env_cfg.get('dist_cfg') or {}),
            'backend': 'gloo',
        }
        cfg.env_cfg = env_cfg
        wrapper = dict(cfg.get('model_wrapper_cfg') or {})
        wrapper.setdefault('type', 'CPUDistributedDataParallel')
        wrapper.setdefault('broadcast_buffers', False)
        wrapper.setdefault(
            'find_unused_parameters', cfg.get('find_unused_parameters', False)
        )
        cfg.model_wrapper_cfg = wrapper
        init_cpu_process_group()


def build_runner(cfg: Config):
    """mmengine's Runner for ``cfg``; build errors become one line."""
    try:
        if 'runner_type' in cfg:
            return RUNNERS.build(cfg)
        return Runner.from_cfg(cfg)
    except (KeyError, ValueError, TypeError) as err:
        raise build_user_error(err) from err
    except OSError as err:  # the work or log dir
        raise UserInputError(
            f'cannot write {err.filename or cfg.work_dir} '
            f'({err.strerror or err}): pass --work-dir DIR'
        ) from None


def load_exactly(runner, state: dict, checkpoint: str, config: str):
    """Load ``state`` (of ``checkpoint``) into the runner's model, which it
    must fit exactly; return the model (DDP and TTA wrappers removed).

    Raises:
        UserInputError: naming the missing, unexpected and misshapen keys.
    """
    model = bare_model(runner.model)
    mismatch = describe_mismatch(model, state)
    if mismatch:
        raise UserInputError(f'{checkpoint} does not fit {config}: {mismatch}')
    model.load_state_dict(state, strict=True)
    return model


def report_metrics(metrics: dict, work_dir: str) -> None:
    """On rank 0: print ``metrics``' numbers as one ``k=v ...`` line and
    write them to ``work_dir/metrics.json`` (atomically), the file
    ``tools/reproduce.py`` reads."""
    if not is_main_process():
        return
    numbers = numeric_metrics(metrics)
    print(' '.join(f'{k}={v}' for k, v in numbers.items()), flush=True)
    write_metrics(numbers, work_dir)
