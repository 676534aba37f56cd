"""The command-line tools' glue (``tools/``): one-line errors, options,
config loading, preflight checks, the runner, output paths. The top floor:
nothing else in the package imports it."""

from ..utils.errors import UserInputError
from .errors import ArgumentParser, build_user_error, fail, one_line_errors
from .paths import check_output
from .runner import (
    add_run_arguments,
    add_runtime_hooks,
    add_train_arguments,
    build_runner,
    export_local_rank,
    load_config,
    load_exactly,
    load_run_config,
    report_metrics,
    train,
)

__all__ = [
    'ArgumentParser',
    'UserInputError',
    'build_user_error',
    'fail',
    'one_line_errors',
    'check_output',
    'add_run_arguments',
    'add_runtime_hooks',
    'add_train_arguments',
    'build_runner',
    'export_local_rank',
    'load_config',
    'load_exactly',
    'load_run_config',
    'report_metrics',
    'train',
]
