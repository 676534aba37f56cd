import io
import logging
from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub
from mmengine.model import BaseModel

from cpwc_mmdet.engine import console_progress
from cpwc_mmdet.engine.console_progress import (
    ConsoleProgressHook,
    QuietConsoleRunner,
    format_duration,
    prints_to_log,
)


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    """A clock that advances 2 s each time it is read."""
    now = [0.0]

    def perf_counter():
        now[0] += 2.0
        return now[0]

    monkeypatch.setattr(
        console_progress, 'time', SimpleNamespace(perf_counter=perf_counter)
    )


def train(hook, max_iters, val_at=None):
    hub = MessageHub(f'test_progress_{id(hook)}')
    runner = SimpleNamespace(iter=0, max_iters=max_iters, message_hub=hub)
    hook.before_train(runner)
    for i in range(max_iters):
        runner.iter = i
        hub.update_scalar('train/lr', 1e-3)
        hub.update_scalar('train/loss', float(i))
        hook.after_train_iter(runner, i)
        if val_at == i + 1:
            hook.before_val(runner)
            hook.after_val(runner)
    hook.after_train(runner)


def test_a_line_every_interval_when_not_a_terminal(clock):
    stream = io.StringIO()
    train(ConsoleProgressHook(interval=50, window=10, stream=stream), 120)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == [
        '1/120',
        '50/120',
        '100/120',
        '120/120',
    ]
    # loss: mean of the last 10 (40..49); 2 s per iteration, 70 to go
    assert (
        lines[1] == 'iter  50/120  loss 44.5000  lr 1.00e-03  '
        '2.00 s/it  ETA 2:20'
    )
    assert lines[-1].endswith('ETA 0:00')


def test_one_line_rewritten_on_a_terminal(clock):
    stream = Terminal()
    train(ConsoleProgressHook(stream=stream), 30, val_at=30)
    text = stream.getvalue()
    assert text.count('\r') == 30
    updates = text.split('\r')[1:]
    assert updates[0].startswith('iter  1/30')
    assert updates[-1].startswith('iter 30/30')
    # padded to overwrite longer lines; closed before the validation message
    last, message, end = updates[-1].split('\n')
    assert last.rstrip(' ').endswith('ETA 0:00') and len(last) >= 72
    assert (message, end) == ('evaluating on the val split ...', '')


def test_format_duration():
    assert format_duration(59.6) == '1:00'
    assert format_duration(3725) == '1:02:05'


class TinyModel(BaseModel):
    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        return []


def test_quiet_runner_logs_everything_to_the_file_only(tmp_path, capsys):
    runner = QuietConsoleRunner(
        model=TinyModel(),
        work_dir=str(tmp_path),
        experiment_name='test_quiet_console',
    )
    runner.logger.info('an info line')
    runner.logger.warning('a warning line')
    runner.logger.warning('"FileClient" will be deprecated in future.')
    with prints_to_log(runner.logger):
        print('loading annotations...\nDone', end='')
    console = capsys.readouterr().out
    with open(runner.logger.log_file) as f:
        log = f.read()
    for text in (
        'System environment',
        'an info line',
        'a warning line',
        'loading annotations...',
        'Done',
        'FileClient',
    ):
        assert text in log
    assert 'a warning line' in console
    for text in (
        'System environment',
        'an info line',
        'loading annot',
        'FileClient',
    ):
        assert text not in console
    handlers = {type(h): h.level for h in runner.logger.handlers}
    assert handlers == {
        logging.StreamHandler: logging.WARNING,
        logging.FileHandler: logging.INFO,
    }
