"""What a training run checks before it starts, and what it turns into one
line while it runs: the work dir, the checkpoint it resumes from being
of this model (the preflight checks that every checkpoint it reads is a
whole file), a resume that cannot be exact, the loops'
settings, an image that cannot be read mid-training and a checkpoint that
cannot be written (the last checkpoint stays as it was: checkpoints are
written atomically and rotated after the save)."""

import contextlib
import errno
import os
import re
import sys

from mmengine.config import Config

from ..utils.checkpoint_fit import describe_mismatch
from ..utils.checkpoint_io import read_state_dict
from ..utils.errors import UserInputError
from ..utils.model_wrappers import bare_model
from .errors import build_user_error


def check_work_dir(cfg: Config) -> None:
    """The work dir exists or can be made (one line if not)."""
    try:
        os.makedirs(cfg.work_dir, exist_ok=True)
    except OSError as err:
        raise UserInputError(
            f'cannot create the work dir {cfg.work_dir} '
            f'({err.strerror or err}): pass --work-dir DIR'
        ) from None
    if not os.access(cfg.work_dir, os.W_OK):
        raise UserInputError(
            f'the work dir {cfg.work_dir} is not writable: pass --work-dir DIR'
        )


def latest_checkpoint(work_dir: str):
    """The checkpoint mmengine's auto-resume would take: the one the work
    dir's ``last_checkpoint`` names (None without that file)."""
    marker = os.path.join(work_dir, 'last_checkpoint')
    if not os.path.isfile(marker):
        return None
    with open(marker) as f:
        named = f.read().strip()
    if not os.path.isfile(named):  # a moved work dir: the same name here
        named = os.path.join(work_dir, os.path.basename(named))
    return named


def resume_checkpoint(cfg: Config):
    """The checkpoint a ``resume`` run continues from, or None."""
    if not cfg.get('resume'):
        return None
    return cfg.get('load_from') or latest_checkpoint(cfg.work_dir)


def warn_inexact_resume(cfg: Config, tool: str = 'train.py') -> None:
    """One warning line when a resume cannot repeat the uninterrupted run:
    with ``num_workers=0`` the augmentation draws from the main process's
    random state, which resuming does not rewind to the batch it stopped
    at. (Another number of processes is said by RNGStateHook.)"""
    if resume_checkpoint(cfg) is None:
        return
    loader = cfg.get('train_dataloader') or {}
    if loader.get('num_workers', 0) == 0:
        print(
            f'{tool}: warning: resuming with train_dataloader.num_workers=0: '
            'the run continues, but not exactly as an uninterrupted one '
            'would (use num_workers >= 1 for an exact resume)',
            file=sys.stderr,
        )


def check_resume_fits(runner, cfg: Config) -> None:
    """The checkpoint a resume continues from holds this model's weights
    (mmengine would load another model's with a warning and go on)."""
    path = resume_checkpoint(cfg)
    if path is None or '://' in path:
        return
    _, state = read_state_dict(path, 'the checkpoint to resume from,')
    mismatch = describe_mismatch(bare_model(runner.model), state)
    if mismatch:
        raise UserInputError(
            f'--resume: {path} is not a checkpoint of this model: {mismatch}'
        )


def build_loops(runner) -> None:
    """Build the train and val loops (their dataloaders included) before
    training, so that a bad setting (an unknown loop key, a batch size
    that is not a number) is one line; ``runner.train()`` takes them as
    built."""
    try:
        runner._train_loop = runner.build_train_loop(runner._train_loop)
        if runner._val_loop is not None:
            runner._val_loop = runner.build_val_loop(runner._val_loop)
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise build_user_error(err) from err


#: how an image that cannot be read surfaces from mmcv's LoadImageFromFile
IMAGE_ERRORS = (
    re.compile(r'failed to load image: (\S+)'),
    re.compile(r"No such file or directory: '([^']+)'"),
)


#: write failures a training can meet: a full disk, quota, read-only
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


def _kept(cfg: Config) -> str:
    last = latest_checkpoint(cfg.work_dir)
    if last:
        return (
            f'the last checkpoint, {last}, is intact: rerun with --resume '
            'once that is fixed'
        )
    return 'no checkpoint was saved yet'


@contextlib.contextmanager
def training_failures_in_one_line(cfg: Config):
    """While training: an image that is missing or corrupt when a batch
    loads it (after the preflight, or in a dataset it does not read), or a
    checkpoint that cannot be written (a full disk), ends the run in one
    line naming the file and the checkpoint left to resume from."""
    try:
        yield
    except (AssertionError, OSError, ValueError) as err:
        text = str(err)
        for pattern in IMAGE_ERRORS:
            # a worker's error quotes its traceback: source lines too
            names = [n for n in pattern.findall(text) if '{' not in n]
            if names:
                raise UserInputError(
                    f'training stopped: image {names[-1]} is missing or '
                    f'unreadable; {_kept(cfg)}'
                ) from None
        if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
            raise UserInputError(
                f'training stopped: cannot write {err.filename} '
                f'({err.strerror}); {_kept(cfg)}'
            ) from None
        raise
