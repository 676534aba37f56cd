"""One line per error: what the command-line tools print instead of a
traceback for whatever the user can fix."""

import argparse
import os
import pickle
import sys
from contextlib import contextmanager

from ..engine import NonFiniteLossError
from ..utils.errors import UserInputError
from ..utils.safe_checkpoint import refusal_reason


@contextmanager
def one_line_errors(tool: str):
    """Turn user-input errors into one ``tool: error: ...`` line and exit 2:
    bad configs, data and files (:class:`UserInputError`), checkpoints
    refused by the ``weights_only`` allow-list, NaN / inf losses, and
    Ctrl-C.

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
    except KeyboardInterrupt as err:  # Ctrl-C, or a signal made one
        fail(tool, f'interrupted ({err.args[0] if err.args else "Ctrl-C"})',
             code=130)  # fmt: skip


def fail(tool: str, message: str, code: int = 2) -> None:
    """Print ``tool: error: message`` on one line and exit with ``code``.
    Called from an ``except`` block: with ``CPWC_MMDET_TRACEBACK=1`` it
    re-raises the exception being handled instead."""
    if os.environ.get('CPWC_MMDET_TRACEBACK'):
        raise
    line = f'{tool}: error: {" ".join(message.split())}\n'
    # the whole line in one write (print() writes the newline apart): ranks
    # sharing a terminal or a pipe must not interleave their lines
    sys.stderr.flush()
    sys.stderr.write(line)
    sys.stderr.flush()
    sys.exit(code)


def build_user_error(err: Exception) -> UserInputError:
    """A one-line UserInputError for an error raised while building."""
    message = str(err).strip().splitlines()[-1] if str(err).strip() else ''
    return UserInputError(f'{type(err).__name__}: {message}')


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one ``prog: error: ...`` line
    with exit 2 (argparse prints the usage first), ``--cfg-options`` values
    included (mmengine's ``DictAction`` raises ``ValueError`` for an item
    without ``=``). ``--help`` is unchanged."""

    def error(self, message):
        fail(self.prog, message)

    def parse_known_args(self, args=None, namespace=None):
        try:
            return super().parse_known_args(args, namespace)
        except ValueError as err:  # raised by an action, e.g. DictAction
            self.error(f'{err} (--cfg-options takes key=value items)')
