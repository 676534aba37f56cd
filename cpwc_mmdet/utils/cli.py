"""What the command-line tools share: options, config loading, errors."""

import os
import os.path as osp
import pickle
import sys
from contextlib import contextmanager

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..engine import NonFiniteLossError, init_cpu_process_group
from .preflight import UserInputError
from .safe_checkpoint import refusal_reason


@contextmanager
def one_line_errors(tool: str):
    """Turn user-input errors into one ``tool: error: ...`` line and exit 2:
    bad configs and data (:class:`UserInputError`), checkpoints refused by
    the ``weights_only`` allow-list, NaN / inf losses.

    Set ``CPWC_MMDET_TRACEBACK=1`` to see the full traceback instead.
    """
    try:
        yield
    except (UserInputError, NonFiniteLossError) as err:
        fail(tool, str(err))
    except pickle.UnpicklingError as err:
        fail(
            tool,
            'refused to load a checkpoint: it holds objects outside '
            "the weights_only allow-list of tensors and mmengine's types "
            f'({refusal_reason(err)})',
        )


def fail(tool: str, message: str) -> None:
    """Print ``tool: error: message`` on one line and exit 2. Called from an
    ``except`` block: with ``CPWC_MMDET_TRACEBACK=1`` it re-raises the
    exception being handled instead."""
    if os.environ.get('CPWC_MMDET_TRACEBACK'):
        raise
    line = f'{tool}: error: {" ".join(message.split())}\n'
    # the whole line in one write (print() writes the newline apart): ranks
    # sharing a terminal or a pipe must not interleave their lines
    sys.stderr.flush()
    sys.stderr.write(line)
    sys.stderr.flush()
    sys.exit(2)


def build_user_error(err: Exception) -> UserInputError:
    """A one-line UserInputError for an error raised while building."""
    message = str(err).strip().splitlines()[-1] if str(err).strip() else ''
    return UserInputError(f'{type(err).__name__}: {message}')


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


def add_safety_hooks(cfg: Config) -> None:
    """Stop at the first NaN / inf loss on any rank, keep every rank's RNG
    states in checkpoints, and fit BN statistics to CoC convs inflated with
    orth=True (unless the config already has these hooks)."""
    hooks = list(cfg.get('custom_hooks') or [])
    for kind in ('NonFiniteLossHook', 'RNGStateHook', 'NormRecalibrationHook'):
        if not any(h.get('type') == kind for h in hooks):
            hooks.append(dict(type=kind))
    cfg.custom_hooks = hooks


#: what ``--launcher pytorch`` reads from the environment (torchrun and
#: ``torch.distributed.launch`` set it; LOCAL_RANK may come from --local_rank)
TORCH_LAUNCHER_ENV = (
    'RANK',
    'WORLD_SIZE',
    'MASTER_ADDR',
    'MASTER_PORT',
    'LOCAL_RANK',
)


def set_launcher(cfg: Config, launcher: str) -> None:
    """Record the launcher. Without CUDA, a distributed run joins a gloo
    process group here and uses a CPU-capable DDP wrapper, since mmengine
    0.10.7's own set-up assumes CUDA."""
    cfg.launcher = launcher
    if launcher == 'none':
        return
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
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
        cfg.env_cfg.dist_cfg.backend = 'gloo'
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
