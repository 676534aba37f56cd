"""A quiet console for training: one progress line, the full log in a file.

mmengine's Runner logs its environment, the whole config and the hook table
(hundreds of lines) to the console before the first iteration. Here:

* :class:`QuietConsoleRunner` keeps its console handler at WARNING, so the
  console shows warnings and errors only, while the log file in
  ``work_dir/<timestamp>/`` keeps everything at the config's ``log_level``;
* :class:`ConsoleProgressHook` writes ``iter i/N, loss, s/it, ETA`` to the
  console: one line rewritten in place on a terminal, or one line every
  ``interval`` iterations when the output is a file or a pipe;
* :func:`prints_to_log` sends ``print`` output (pycocotools' loading and
  evaluation chatter) to the log file instead of the console.
"""

import logging
import sys
import time
from collections import deque
from contextlib import contextmanager, redirect_stdout
from typing import Iterator, Optional, TextIO

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner import Runner


class DropMessages(logging.Filter):
    """Drop the records whose message contains one of ``fragments``."""

    def __init__(self, fragments) -> None:
        super().__init__()
        self.fragments = tuple(fragments)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


class QuietConsoleRunner(Runner):
    """mmengine's Runner, its console logging raised to ``console_level``
    (WARNING) and without ``console_hidden`` messages; the log file is
    unchanged."""

    console_level = logging.WARNING
    #: warnings about mmengine's own internals (its CheckpointHook still
    #: uses FileClient), which users cannot act on
    console_hidden = (
        '"FileClient" will be deprecated',
        '"HardDiskBackend" is the alias of "LocalBackend"',
    )

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        logger = super().build_logger(log_level, log_file, **kwargs)
        for handler in logger.handlers:
            # the console handler; FileHandler subclasses StreamHandler
            if type(handler) is logging.StreamHandler:
                handler.setLevel(max(handler.level, self.console_level))
                handler.addFilter(DropMessages(self.console_hidden))
        return logger


class LogStream:
    """A write-only text stream that logs each complete line at INFO."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.pending = ''

    def write(self, text: str) -> int:
        lines = (self.pending + text).split('\n')
        self.pending = lines.pop()
        for line in lines:
            if line.strip():
                self.logger.info(line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self.pending.strip():
            self.logger.info(self.pending.rstrip())
        self.pending = ''


@contextmanager
def prints_to_log(logger: logging.Logger) -> Iterator[None]:
    """Within the block, ``print`` (``sys.stdout``) goes to ``logger``."""
    stream = LogStream(logger)
    try:
        with redirect_stdout(stream):
            yield
    finally:
        stream.flush()


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f'{hours}:{minutes:02d}:{secs:02d}'
        if hours
        else f'{minutes}:{secs:02d}'
    )


@HOOKS.register_module()
class ConsoleProgressHook(Hook):
    """Training progress on the console: iteration, loss, speed, ETA.

    Args:
        interval (int): iterations between lines when the stream is not a
            terminal (on a terminal one line is rewritten every iteration).
        window (int): iterations the loss and the speed are averaged over.
        stream (TextIO, optional): where to write; defaults to
            ``sys.stdout`` as it is when the hook is built (a later
            redirection of ``sys.stdout`` does not reach it).
    """

    priority = 'BELOW_NORMAL'  # after RuntimeInfoHook has logged the loss

    def __init__(
        self,
        interval: int = 50,
        window: int = 20,
        stream: Optional[TextIO] = None,
    ) -> None:
        if interval < 1 or window < 1:
            raise ValueError(
                f'interval and window must be >= 1, got '
                f'{interval} and {window}'
            )
        self.interval = interval
        self.window = window
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, 'isatty', None)
        self.in_place = bool(isatty and isatty())
        self.durations: deque = deque(maxlen=window)
        self.last_time: Optional[float] = None
        self.line_open = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _end_line(self) -> None:
        if self.line_open:
            self._write('\n')
            self.line_open = False

    def before_train(self, runner) -> None:
        self.durations.clear()
        self.last_time = time.perf_counter()

    def progress_line(self, runner) -> str:
        """``iter i/N  loss L  lr R  S s/it  ETA T``."""
        done, total = runner.iter + 1, runner.max_iters
        hub = runner.message_hub
        parts = [f'iter {done:>{len(str(total))}}/{total}']
        if 'train/loss' in hub.log_scalars:
            loss = hub.get_scalar('train/loss').mean(self.window)
            parts.append(f'loss {loss:.4f}')
        if 'train/lr' in hub.log_scalars:
            parts.append(f'lr {hub.get_scalar("train/lr").current():.2e}')
        if self.durations:
            per_iter = sum(self.durations) / len(self.durations)
            parts.append(f'{per_iter:.2f} s/it')
            parts.append(f'ETA {format_duration(per_iter * (total - done))}')
        return '  '.join(parts)

    def after_train_iter(
        self, runner, batch_idx: int, data_batch=None, outputs=None
    ) -> None:
        now = time.perf_counter()
        if self.last_time is not None and runner.iter > 0:
            # the first iteration (start-up, data workers) is not typical
            self.durations.append(now - self.last_time)
        self.last_time = now
        done, total = runner.iter + 1, runner.max_iters
        if self.in_place:
            self._write('\r' + self.progress_line(runner).ljust(72))
            self.line_open = True
            if done == total:
                self._end_line()
        elif done == 1 or done % self.interval == 0 or done == total:
            self._write(self.progress_line(runner) + '\n')

    def before_val(self, runner) -> None:
        self._end_line()
        self._write('evaluating on the val split ...\n')

    def after_val(self, runner) -> None:
        # validation time is not training speed
        self.last_time = time.perf_counter()

    def after_train(self, runner) -> None:
        self._end_line()
