"""NonFiniteLossHook: stop on a NaN / inf loss, except for a step the loss
scaler of mixed precision skipped. (Two ranks: test_dist_safety.py.)"""

import os
from types import SimpleNamespace

import pytest
import torch
from mmengine.optim import OptimWrapper

from cpwc_mmdet.engine import NonFiniteLossError, NonFiniteLossHook
from cpwc_mmdet.utils.safe_checkpoint import safe_load
from tests.helpers import ROOT, cfg_options, run_tool, toy_overrides
from tests.injected_hooks import CPUAmpOptimWrapper

TOY = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'


class Logger:
    def __init__(self):
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


def runner_after_step(wrapper_type, factor, model=None):
    """A runner-like object after one training step whose loss was
    multiplied by ``factor``, and that step's logged outputs."""
    model = model or torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    wrapper = wrapper_type(optimizer=optimizer)
    loss = model(torch.ones(4, 3)).square().mean() * factor
    wrapper.update_params(loss)
    runner = SimpleNamespace(
        iter=0, model=model, optim_wrapper=wrapper, logger=Logger()
    )
    return runner, dict(loss=loss.detach(), acc=torch.tensor(1.0))


def test_a_finite_loss_passes():
    runner, outputs = runner_after_step(OptimWrapper, 1.0)
    NonFiniteLossHook().after_train_iter(runner, 0, outputs=outputs)
    assert runner.logger.warnings == []


@pytest.mark.parametrize('factor', [float('nan'), float('inf')])
def test_without_a_loss_scaler_a_non_finite_loss_stops(factor):
    runner, outputs = runner_after_step(OptimWrapper, factor)
    with pytest.raises(NonFiniteLossError, match='at iteration 1 on rank 0'):
        NonFiniteLossHook().after_train_iter(runner, 0, outputs=outputs)


def test_a_step_the_loss_scaler_skipped_does_not_stop():
    runner, outputs = runner_after_step(CPUAmpOptimWrapper, float('inf'))
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    NonFiniteLossHook().after_train_iter(runner, 0, outputs=outputs)
    # the scaler really skipped: weights untouched, scale halved
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, before[key])
    assert runner.optim_wrapper.loss_scaler.get_scale() == 2.0**15
    assert len(runner.logger.warnings) == 1
    assert (
        'the loss scaler skips this step (scale now 32768)'
        in runner.logger.warnings[0]
    )


def test_a_skipped_step_with_poisoned_buffers_stops():
    model = torch.nn.BatchNorm1d(3)  # running statistics: buffers
    model.running_mean.fill_(float('nan'))  # as a NaN forward in train mode

    runner, outputs = runner_after_step(
        CPUAmpOptimWrapper, float('inf'), model=model
    )
    with pytest.raises(NonFiniteLossError, match='no longer finite'):
        NonFiniteLossHook().after_train_iter(runner, 0, outputs=outputs)


def test_too_many_skipped_steps_in_a_row_stop():
    hook = NonFiniteLossHook(max_skipped_steps=2)
    runner, outputs = runner_after_step(CPUAmpOptimWrapper, float('inf'))
    hook.after_train_iter(runner, 0, outputs=outputs)
    hook.after_train_iter(runner, 1, outputs=outputs)
    with pytest.raises(NonFiniteLossError, match='2 steps in a row'):
        hook.after_train_iter(runner, 2, outputs=outputs)
    hook = NonFiniteLossHook(max_skipped_steps=2)  # a finite loss resets
    hook.after_train_iter(runner, 0, outputs=outputs)
    hook.after_train_iter(runner, 1, outputs=outputs)
    hook.after_train_iter(runner, 2, outputs=dict(loss=torch.tensor(1.0)))
    hook.after_train_iter(runner, 3, outputs=outputs)


def test_training_goes_on_past_a_skipped_step(tmp_path, toy_root):
    config = tmp_path / 'amp_toy.py'
    config.write_text(
        f"_base_ = '{ROOT}/{TOY}'\n"
        "custom_imports = dict(imports=['cpwc_mmdet', 'tests.injected_hooks'],"
        ' allow_failed_imports=False)\n'
        "optim_wrapper = dict(type='CPUAmpOptimWrapper')\n"
        "custom_hooks = [dict(type='ScaleLossOnRankHook', rank=0, "
        "iteration=2, factor=float('inf'))]\n"
    )
    options = toy_overrides(toy_root, tmp_path, max_iters=3)
    options.update(
        {
            'train_dataloader.batch_size': 1,
            'val_cfg': None,
            'val_dataloader': None,
            'val_evaluator': None,
            'train_cfg.val_interval': 1000,
        }
    )
    path = os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')])
    result = run_tool(
        'tools/train.py',
        str(config),
        *cfg_options(options),
        env=dict(os.environ, PYTHONPATH=path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = ''.join(p.read_text() for p in tmp_path.glob('*/*.log'))
    assert 'non-finite loss at iteration 2 on rank 0' in log
    checkpoint = safe_load(str(tmp_path / 'iter_3.pth'))
    assert checkpoint['optimizer']['loss_scaler']['scale'] == 2.0**15
    assert all(
        torch.isfinite(v).all()
        for v in checkpoint['state_dict'].values()
        if v.is_floating_point()
    )
