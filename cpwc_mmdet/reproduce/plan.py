"""A table's pipeline as command lines of the project's own tools.

Each row runs, per seed, these stages in order, each in its own directory
``WORK/<row>/seed<k>/<stage>``:

* ``pretrain``: ``tools/pretrain.py`` (mmpretrain) on ImageNet / CIFAR-100
  or the toy classification set;
* ``bridge`` (detection rows): ``tools/model_converters/
  pretrain_to_detector.py SRC DST --config DET``;
* ``detect`` (detection rows): ``tools/train.py DET`` with the bridged
  weights as ``init_cfg`` (``--cfg-options``);
* ``evaluate``: ``tools/test.py DET CKPT`` (COCO, pycocotools) or
  ``tools/pretrain.py CFG --test CKPT`` (top-1).

Full data uses the distributed launchers (``tools/dist_pretrain.sh``,
``tools/dist_train.sh``, ``tools/dist_test.sh``) with ``--gpus`` processes
on each of ``--nodes`` nodes, each training at its recipe's total batch
split over all of them (``batches.plan_batch``), BN synchronised across
them with ``--sync-bn``; toy data runs plain ``python`` on the CPU. A row
another table shares (``Row.shared``) has no stages here: its figures are
that table's.
"""

import os
import shlex
import sys
from typing import Dict, List, NamedTuple, Optional, Tuple

from .batches import (
    BatchPlan,
    epoch_cap_options,
    keep_every_detection_options,
    plan_batch,
)
from .schedules import (
    TOY_CLS_BASE,
    classifier_test_options,
    detect_options,
    detector_test_options,
    init_options,
    pretrain_options,
    toy_classifier_config,
)
from .tables import Row, Table


class Options(NamedTuple):
    """What a reproduction run was asked for.

    Attributes:
        root (str): the repository, whose tools/ and configs/ the stages
            run (``tools/reproduce.py`` passes its own).
        table (Table): the table.
        data (str): ``'full'`` or ``'toy'``.
        schedule (str): the toy schedule (``'toy'`` or ``'smoke'``).
        gpus (int): processes per stage on full data.
        seeds (int): seeds 0 .. seeds - 1, each a full run of every row.
        work_dir (str): where the stages run.
        roots (dict): dataset -> data root (full data) or toy set root.
        pretrained (dict): row key -> a pretraining checkpoint to use
            instead of the row's pretrain stage.
        max_epochs (int | None): full data: stop every training after this
            many epochs (a test of the path; the results say so).
        nodes (int): full data: the nodes the launchers span (their
            ``NNODES``), each running ``gpus`` processes.
        sync_bn (bool): full data: synchronise BN across the processes of
            every training (mmengine's ``sync_bn='torch'``).
    """

    root: str
    table: Table
    data: str
    schedule: str
    gpus: int
    seeds: int
    work_dir: str
    roots: Dict[str, str]
    pretrained: Dict[str, str]
    max_epochs: Optional[int] = None
    nodes: int = 1
    sync_bn: bool = False


class Stage(NamedTuple):
    """One step of a row: a command and the directory it owns.

    Attributes:
        name (str): ``pretrain``, ``bridge``, ``detect`` or ``evaluate``.
        row (str): the row's key.
        seed (int): the seed.
        directory (str): the stage's work dir (its ``done.json`` marks it
            finished).
        command (tuple): the argv to run.
        resumable (bool): rerun with ``--resume`` when the directory holds
            mmengine's ``last_checkpoint``.
        output (str): the file the next stage reads ('' for evaluate).
        config_text (tuple | None): (path, text) of a generated config the
            command uses, written before it runs.
        batch (BatchPlan | None): a full-data training's processes and
            batch.
    """

    name: str
    row: str
    seed: int
    directory: str
    command: Tuple[str, ...]
    resumable: bool
    output: str
    config_text: Optional[Tuple[str, str]] = None
    batch: Optional[BatchPlan] = None


def full_training_options(opts: Options, config_path: str):
    """(``--cfg-options``, BatchPlan) of a full-data training of
    ``config_path``: the recipe's batch over ``--gpus`` x ``--nodes``
    processes, SyncBN and the epoch cap when asked; ({}, None) on toy
    data."""
    if opts.data != 'full':
        return {}, None
    batch = plan_batch(config_path, opts.gpus, opts.nodes)
    options = {'train_dataloader.batch_size': batch.per_process}
    if opts.sync_bn:
        options['sync_bn'] = 'torch'
    if opts.max_epochs is not None:
        options.update(epoch_cap_options(config_path, opts.max_epochs))
    return options, batch


def tool(opts: Options, path: str) -> str:
    """``tools/PATH`` of the repository, as seen from the current
    directory."""
    return os.path.relpath(os.path.join(opts.root, 'tools', path))


def config(opts: Options, path: str) -> str:
    """A repository config path as seen from the current directory."""
    return os.path.relpath(os.path.join(opts.root, path))


def cfg_options(options: Dict) -> List[str]:
    """``--cfg-options k=v ...`` (``None`` and booleans as mmengine's
    DictAction reads them)."""
    if not options:
        return []
    return ['--cfg-options', *[f'{k}={v}' for k, v in options.items()]]


def launch(opts: Options, script: str, dist: str, args: List[str]) -> tuple:
    """``python tools/SCRIPT ARGS`` on toy data; on full data
    ``bash tools/DIST CONFIG [CKPT] GPUS REST`` (the launcher takes the
    process count after its positional arguments)."""
    if opts.data == 'toy':
        return (sys.executable, tool(opts, script), *args)
    positional = 2 if dist == 'dist_test.sh' else 1
    return (
        'bash',
        tool(opts, dist),
        *args[:positional],
        str(opts.gpus),
        *args[positional:],
    )


def row_dir(opts: Options, row: Row) -> str:
    """The row's directory in the work dir."""
    return os.path.join(opts.work_dir, row.key)


def row_configs(opts: Options, row: Row) -> Tuple[str, Optional[str]]:
    """(pretraining config, detection config) of ``row`` for the data:
    the full configs, or their toy counterparts. A classification row on
    toy data trains its own model on the toy set through a generated
    config in its row directory (see :func:`toy_classifier_path`)."""
    if opts.data == 'full':
        return config(opts, row.pretrain), row.detect and config(
            opts, row.detect
        )
    if opts.table.kind == 'classification':
        return toy_classifier_path(opts, row), None
    return config(opts, row.toy_pretrain), config(opts, row.toy_detect)


def toy_classifier_path(opts: Options, row: Row) -> str:
    """Where a classification row's toy config is generated."""
    return os.path.join(row_dir(opts, row), 'toy_classifier.py')


def pretrain_root(opts: Options) -> str:
    """The classification data the table pretrains on."""
    if opts.data == 'toy':
        return opts.roots['toy_cls']
    return opts.roots[
        'cifar' if 'cifar' in opts.table.datasets else 'imagenet'
    ]


def row_stages(opts: Options, row: Row, seed: int) -> List[Stage]:
    """The stages of ``row`` at ``seed``, in order."""
    pre_cfg, det_cfg = row_configs(opts, row)
    base = os.path.join(row_dir(opts, row), f'seed{seed}')
    stages = []
    generated = None
    if opts.data == 'toy' and opts.table.kind == 'classification':
        generated = (
            pre_cfg,
            toy_classifier_config(
                config(opts, row.pretrain),
                opts.roots['toy_cls'],
                config(opts, TOY_CLS_BASE),
            ),
        )
    checkpoint = opts.pretrained.get(row.key)
    if checkpoint is None:
        directory = os.path.join(base, 'pretrain')
        training, batch = full_training_options(opts, pre_cfg)
        options = {
            **pretrain_options(
                opts.data, opts.schedule, pretrain_root(opts), seed
            ),
            **training,
        }
        stages.append(
            Stage(
                'pretrain',
                row.key,
                seed,
                directory,
                launch(
                    opts,
                    'pretrain.py',
                    'dist_pretrain.sh',
                    [pre_cfg, '--work-dir', directory, *cfg_options(options)],
                ),
                True,
                os.path.join(directory, 'last.pth'),
                generated,
                batch,
            )
        )
        checkpoint = stages[-1].output
    if det_cfg is None:
        directory = os.path.join(base, 'evaluate')
        options = classifier_test_options(opts.data, pretrain_root(opts))
        stages.append(
            Stage(
                'evaluate',
                row.key,
                seed,
                directory,
                launch(
                    opts,
                    'pretrain.py',
                    'dist_pretrain.sh',
                    [
                        pre_cfg,
                        '--test',
                        checkpoint,
                        '--work-dir',
                        directory,
                        *cfg_options(options),
                    ],
                ),
                False,
                '',
                generated,
            )
        )
        return stages
    coco = opts.roots['toy_coco' if opts.data == 'toy' else 'coco']
    bridged = os.path.join(base, 'bridge', 'backbone.pth')
    stages.append(
        Stage(
            'bridge',
            row.key,
            seed,
            os.path.dirname(bridged),
            (
                sys.executable,
                tool(opts, 'model_converters/pretrain_to_detector.py'),
                checkpoint,
                bridged,
                '--config',
                det_cfg,
            ),
            False,
            bridged,
        )
    )
    directory = os.path.join(base, 'detect')
    training, batch = full_training_options(opts, det_cfg)
    options = {
        **detect_options(opts.data, opts.schedule, coco, seed),
        **init_options(opts.table.init_prefixes, bridged, det_cfg),
        **training,
    }
    stages.append(
        Stage(
            'detect',
            row.key,
            seed,
            directory,
            launch(
                opts,
                'train.py',
                'dist_train.sh',
                [det_cfg, '--work-dir', directory, *cfg_options(options)],
            ),
            True,
            os.path.join(directory, 'last.pth'),
            batch=batch,
        )
    )
    trained = stages[-1].output
    directory = os.path.join(base, 'evaluate')
    stages.append(
        Stage(
            'evaluate',
            row.key,
            seed,
            directory,
            launch(
                opts,
                'test.py',
                'dist_test.sh',
                [
                    det_cfg,
                    trained,
                    '--work-dir',
                    directory,
                    *cfg_options(
                        {
                            **detector_test_options(opts.data, coco),
                            **(
                                keep_every_detection_options(det_cfg)
                                if opts.max_epochs
                                else {}
                            ),
                        }
                    ),
                ],
            ),
            False,
            '',
        )
    )
    return stages


def table_stages(opts: Options) -> List[Stage]:
    """Every stage of the table: seed by seed, row by row (rows another
    table runs left out)."""
    return [
        stage
        for seed in range(opts.seeds)
        for row in opts.table.rows
        if not row.shared
        for stage in row_stages(opts, row, seed)
    ]


def format_command(command) -> str:
    """A command as a shell line."""
    return shlex.join(command)
