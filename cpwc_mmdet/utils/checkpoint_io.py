"""Reading checkpoints: one helper for every tool and loader.

:func:`read_checkpoint` loads a file with ``torch.load(weights_only=True)``
and mmengine's types allow-listed (``safe_checkpoint``), and turns every
way a file can be unreadable (missing, a folder, empty, truncated, text,
another format) into a :class:`~cpwc_mmdet.utils.errors.UserInputError`
that says so in one line. A file that holds objects outside the allow-list
is refused by torch (``pickle.UnpicklingError``), which the tools report in
one line too. :func:`state_dict_of` finds the tensors in what was loaded.
"""

import os
import pickle
import zipfile
from typing import Dict, Tuple

import torch

from .errors import UserInputError
from .safe_checkpoint import safe_load


def read_checkpoint(path: str, what: str = 'checkpoint'):
    """The object ``path`` holds (a dict for every checkpoint here).

    Raises:
        UserInputError: the file is missing or not a readable checkpoint.
        pickle.UnpicklingError: it holds objects outside the allow-list.
    """
    if not os.path.exists(path):
        raise UserInputError(f'{what} {path} does not exist')
    if not os.path.isfile(path):
        raise UserInputError(f'{what} {path} is not a file')
    probe_checkpoint(path, what)
    try:
        return safe_load(path)
    except pickle.UnpicklingError as err:
        if 'weights_only' in str(err) or 'Weights only' in str(err):
            raise  # refused by the allow-list: the tools say so
        raise UserInputError(
            f'{what} {path} is not a readable checkpoint ({_short(err)})'
        ) from None
    except (
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        KeyError,
        IndexError,
        zipfile.BadZipFile,
        UnicodeDecodeError,
    ) as err:
        raise UserInputError(
            f'{what} {path} is not a readable checkpoint (truncated, or not '
            f'a torch file: {_short(err)})'
        ) from None


#: the first byte of torch's legacy (pre-zip) format: a pickle protocol 2+
LEGACY_MAGIC = b'\x80'


def probe_checkpoint(path: str, what: str = 'checkpoint') -> None:
    """Cheap checks that ``path`` can be a torch checkpoint, without
    loading it (what the loaders of mmengine run on ``--resume``,
    auto-resume and ``load_from`` are given first): a file, not empty, a
    zip whose directory is intact and names a ``data.pkl``, or torch's
    legacy pickle format.

    Raises:
        UserInputError: one line saying what is wrong with the file.
    """
    if not os.path.exists(path):
        raise UserInputError(f'{what} {path} does not exist')
    if not os.path.isfile(path):
        raise UserInputError(f'{what} {path} is not a file')
    size = os.path.getsize(path)
    if size == 0:
        raise UserInputError(f'{what} {path} is empty (0 bytes)')
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                infos = archive.infolist()
        except (zipfile.BadZipFile, OSError) as err:
            raise UserInputError(
                f'{what} {path} is not a readable checkpoint ({_short(err)})'
            ) from None
        end = max(i.header_offset + i.compress_size for i in infos)
        if not any(i.filename.endswith('data.pkl') for i in infos) or (
            end > size
        ):
            raise UserInputError(
                f'{what} {path} is not a readable checkpoint (a zip, but '
                'not a complete torch file)'
            )
        return
    with open(path, 'rb') as f:
        head = f.read(1)
    if head != LEGACY_MAGIC:
        raise UserInputError(
            f'{what} {path} is not a readable checkpoint (truncated, or not '
            'a torch file)'
        )


def _short(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[0] if lines else type(err).__name__


def state_dict_of(checkpoint, what: str = 'checkpoint') -> Dict:
    """The state dict of an mmengine checkpoint (``state_dict``) or a bare
    state dict (torchvision's, Caffe conversions).

    Raises:
        UserInputError: no mapping of names to tensors was found.
    """
    state = checkpoint
    if isinstance(checkpoint, dict) and isinstance(
        checkpoint.get('state_dict'), dict
    ):
        state = checkpoint['state_dict']
    if (
        not isinstance(state, dict)
        or not state
        or not all(torch.is_tensor(v) for v in state.values())
    ):
        raise UserInputError(
            f'{what} is not a checkpoint: it holds no state_dict of tensors'
        )
    return state


def read_state_dict(path: str, what: str = 'checkpoint') -> Tuple[dict, Dict]:
    """``(checkpoint, state_dict)`` of the file ``path``."""
    checkpoint = read_checkpoint(path, what)
    return checkpoint, state_dict_of(checkpoint, f'{what} {path}')
