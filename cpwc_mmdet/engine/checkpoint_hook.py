"""Checkpoints that are whole or absent, rotated only after the new one is
saved.

mmengine's ``CheckpointHook`` writes ``iter_N.pth`` into the final path
(a kill leaves it truncated), deletes the oldest kept checkpoint *before*
saving the next (a full disk then leaves none), and writes
``last_checkpoint`` with a plain ``open`` (through a symlink planted at that
name). :class:`AtomicCheckpointHook` is that hook with all three fixed:

* checkpoints go through the ``cpwc_atomic_local`` file backend, a local
  backend whose writes are atomic renames of fresh temporary files
  (``utils.atomic_files``), unless ``backend_args`` names another backend;
* a checkpoint leaves the rotation (``max_keep_ckpts``, the previous best)
  only after the new one and ``last_checkpoint`` are written: a failed save
  leaves the previous checkpoint and a ``last_checkpoint`` naming it;
* ``last_checkpoint`` is written atomically too;
* before training, temporary files a killed save left are removed;
* before each save, every rank runs the hooks' ``prepare_checkpoint``
  (``RNGStateHook`` gathers the ranks' RNG states there: a collective that
  only a save needs).

The project's configs use it (``configs/_base_/``); ``tools/train.py`` and
``tools/pretrain.py`` replace a plain ``CheckpointHook`` with it. Other
runners: ``default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook',
interval=1))`` with ``custom_imports=dict(imports=['cpwc_mmdet'])``.
"""

import os
from typing import List, Union

from mmdet.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.fileio.backends import (
    LocalBackend,
    backends,
    register_backend,
)
from mmengine.hooks import CheckpointHook

from ..utils.atomic_files import atomic_write, remove_stale_temporaries

BACKEND = 'cpwc_atomic_local'


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose writes are atomic renames."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(obj, str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), str(filepath))


def _register_backend() -> None:
    """Register :class:`AtomicLocalBackend` under a name of its own (never
    replacing ``local``), the first time a hook asks for it."""
    if BACKEND not in backends:
        register_backend(BACKEND, AtomicLocalBackend)


class _DeferredRemoval:
    """A file backend whose ``remove`` / ``rmtree`` are collected while
    ``deferring``, to run once the save they make room for succeeded."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.deferring = False
        self.pending: List[tuple] = []

    def remove(self, path) -> None:
        if self.deferring:
            self.pending.append(('remove', path))
        else:
            self._backend.remove(path)

    def rmtree(self, path) -> None:
        if self.deferring:
            self.pending.append(('rmtree', path))
        else:
            self._backend.rmtree(path)

    def flush(self) -> None:
        for method, path in self.pending:
            if self._backend.exists(path):
                getattr(self._backend, method)(path)
        self.pending = []

    def __getattr__(self, name):
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) with atomic writes and
    rotation after the save; see the module docstring."""

    def __init__(self, *args, backend_args: Union[dict, None] = None, **kw):
        if backend_args is None and kw.get('file_client_args') is None:
            _register_backend()
            backend_args = dict(backend=BACKEND)
        super().__init__(*args, backend_args=backend_args, **kw)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process():
            folders = {runner.work_dir, str(self.out_dir)}
            for folder in folders:
                for path in remove_stale_temporaries(folder):
                    runner.logger.info(
                        f'removed {path}, left by a save that was killed'
                    )
        self.file_backend = _DeferredRemoval(self.file_backend)

    def _rotating_after(self, save) -> None:
        """Run ``save()`` with removals deferred; remove once it returned
        (an outer call, if any, removes at its end)."""
        deferred = self.file_backend
        if not isinstance(deferred, _DeferredRemoval) or deferred.deferring:
            return save()
        deferred.deferring = True
        try:
            save()
        except BaseException:
            deferred.pending = []  # the save failed: keep the old ones
            raise
        finally:
            deferred.deferring = False
        if is_main_process():
            deferred.flush()  # the new checkpoint is saved: rotate

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        runner.call_hook('prepare_checkpoint')
        self._rotating_after(lambda: self._save_and_point(runner, step, meta))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        self._rotating_after(
            lambda: super(AtomicCheckpointHook, self)._save_best_checkpoint(
                runner, metrics
            )
        )

    def _save_and_point(self, runner, step, meta) -> None:
        """Keep-list bookkeeping (its removals deferred), the save, then
        ``last_checkpoint``, as mmengine orders them."""
        if self.max_keep_ckpts > 0 and not (
            self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step
        ):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                old = self.keep_ckpt_ids.popleft()
                if is_main_process():
                    path = self.file_backend.join_path(
                        self.out_dir, self.filename_tmpl.format(old)
                    )
                    if self.file_backend.isfile(path):
                        self.file_backend.remove(path)
                    elif self.file_backend.isdir(path):
                        self.file_backend.rmtree(path)
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info(
                'keep_ckpt_ids', list(self.keep_ckpt_ids)
            )
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if is_main_process():
            atomic_write(
                str(self.last_ckpt),
                os.path.join(runner.work_dir, 'last_checkpoint'),
            )
