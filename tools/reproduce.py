"""Reproduce a paper table end to end: ``python tools/reproduce.py TABLE``.

Tables: ``cpwc-table1`` (CIFAR-100), ``cpwc-table2`` (ImageNet),
``cpwc-table3`` (COCO Faster R-CNN R-50 C4), ``cpwc-table4`` (CIFAR-100,
without the 1x1 path), ``coc-retinanet``, ``coc-maskrcnn`` (``--list``
shows their rows and the papers' figures). Each row runs, per seed,
pretrain -> bridge -> detect -> evaluate (classification rows: pretrain ->
evaluate) through the project's own tools as subprocesses; ``--dry-run``
prints those commands and runs nothing. Finished stages are skipped and a
killed training stage resumes from its last checkpoint, so rerunning the
same command continues where it stopped. On full data every training runs
at its recipe's total batch, split over ``--gpus`` processes on each of
``--nodes`` nodes (a count that does not divide it is refused before
anything runs); ``--sync-bn`` synchronises BN across them. A row another
table runs (Table 4's three rows of Table 1) is read from that table's
results file, not run again. The table goes to
``RESULTS/<table>.md`` and ``.json`` (toy data: ``<table>-toy``, or
``<table>-smoke`` with ``--schedule smoke``; ``--max-epochs N``:
``<table>-capped<N>``).

Usage::

    python tools/reproduce.py --list
    python tools/reproduce.py cpwc-table3 --data toy            # ~5-8 min
    python tools/reproduce.py cpwc-table3 --data toy --schedule smoke  # CI
    python tools/reproduce.py coc-retinanet --gpus 8 --seeds 3 --dry-run
    # the full path on small data, every training stopped after 1 epoch:
    python tools/reproduce.py cpwc-table3 --gpus 2 --max-epochs 1 \
        --coco-root data/mini/coco --imagenet-root data/mini/imagenet
"""

import os
import signal
import sys

import cpwc_mmdet  # noqa: F401  (registers modules)
from cpwc_mmdet.cli import ArgumentParser, UserInputError, one_line_errors
from cpwc_mmdet.datasets import make_toy_cls, make_toy_coco
from cpwc_mmdet.reproduce.census import cached_census
from cpwc_mmdet.reproduce.lock import work_dir_lock
from cpwc_mmdet.reproduce.plan import (
    Options,
    format_command,
    row_configs,
    row_dir,
    row_stages,
    table_stages,
)
from cpwc_mmdet.reproduce.results import (
    read_shared_row,
    summarize,
    write_results,
)
from cpwc_mmdet.reproduce.schedules import DATA_ROOTS, SCHEDULES
from cpwc_mmdet.reproduce.stages import (
    StageFailed,
    run_stage,
    stage_env,
    write_generated_config,
)
from cpwc_mmdet.reproduce.tables import TABLES
from cpwc_mmdet.utils.atomic_files import atomic_write

TOOL = 'reproduce.py'
#: the repository this tool belongs to (its configs and tools run)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: what each dataset is called in messages, and its option
DATASET_NAMES = {
    'coco': ('COCO', '--coco-root'),
    'imagenet': ('ImageNet', '--imagenet-root'),
    'cifar': ('CIFAR-100', '--cifar-root'),
}


def parse_args(argv=None):
    parser = ArgumentParser(prog=TOOL, description=__doc__.split('\n')[0])
    parser.add_argument('table', nargs='?', choices=sorted(TABLES))
    parser.add_argument(
        '--list', action='store_true', help='print the tables and their rows'
    )
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='print every command, run nothing',
    )
    parser.add_argument(
        '--data',
        choices=('full', 'toy'),
        help="full: COCO / ImageNet / CIFAR-100 with the papers' recipes; "
        'toy: the embedded toy sets on the CPU (default: full when the '
        "table's data roots exist, else toy)",
    )
    parser.add_argument(
        '--schedule',
        choices=sorted(SCHEDULES),
        default='toy',
        help='toy data only: toy (minutes) or smoke (tests and CI)',
    )
    parser.add_argument(
        '--gpus',
        type=int,
        default=8,
        help='full data: processes (GPUs) for the dist launchers',
    )
    parser.add_argument(
        '--nodes',
        type=int,
        default=None,
        help='full data: nodes the dist launchers span, each running --gpus '
        'processes (default: $NNODES, else 1); the batch split counts '
        'them and each stage gets NNODES',
    )
    parser.add_argument(
        '--sync-bn',
        action='store_true',
        help='full data: synchronise BN across the processes of every '
        "training (mmengine's sync_bn='torch'); by default each process "
        'normalises over its own recipe / processes images',
    )
    parser.add_argument(
        '--seeds', type=int, default=1, help='seeds 0..N-1 run every row'
    )
    parser.add_argument(
        '--max-epochs',
        type=int,
        metavar='N',
        help='full data: stop every training after N epochs, to try the '
        'whole path (tools/dataset_converters/make_miniature.py makes '
        'small sets laid out like COCO, ImageNet and CIFAR-100); the '
        'results are marked as capped',
    )
    parser.add_argument(
        '--work-dir', help='default: work_dirs/reproduce/<table>[-toy]'
    )
    parser.add_argument('--results-dir', default='results')
    for dataset, (name, option) in DATASET_NAMES.items():
        parser.add_argument(
            option, default=DATA_ROOTS[dataset], help=f'{name} root'
        )
    parser.add_argument(
        '--rows',
        metavar='ROW[,ROW]',
        help='only these rows (keys as --list prints them)',
    )
    parser.add_argument(
        '--pretrained',
        action='append',
        default=[],
        metavar='ROW=CKPT',
        help="use CKPT (a tools/pretrain.py checkpoint) for ROW's "
        'backbone instead of pretraining it (repeatable)',
    )
    args = parser.parse_args(argv)
    if not args.list and args.table is None:
        parser.error('give a TABLE or --list')
    if args.nodes is None:
        nodes = os.environ.get('NNODES', '1')
        if not nodes.isdigit():
            parser.error(f'NNODES={nodes!r} is not a number of nodes')
        args.nodes = int(nodes)
    for name in ('gpus', 'nodes', 'seeds', 'max_epochs'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1')
    return args


def list_tables() -> None:
    """Print every table, its rows, their configs and the papers' figures
    (``cpwc_mmdet.reproduce.tables``)."""
    for table in TABLES.values():
        print(f'{table.name}: {table.title} ({table.note})')
        for row in table.rows:
            paper = [
                f'{k} {"—" if v is None else v}' for k, v in row.paper.items()
            ]
            paper += [
                f'{what} {figure}'
                for what, figure in (
                    ('Params', row.paper_params),
                    ('FLOPs', row.paper_flops),
                )
                if figure
            ]
            chain = ' -> '.join(c for c in (row.pretrain, row.detect) if c)
            print(
                f'  {row.key:<32} {row.name}: {chain} '
                f'(paper {", ".join(paper)})'
            )
        print()


def data_roots(args, table) -> dict:
    """Dataset -> root for the table's full-data datasets."""
    return {d: getattr(args, f'{d}_root').rstrip('/') for d in table.datasets}


def choose_data(args, table) -> str:
    """``--data``, or full when every root the table needs exists."""
    if args.data:
        return args.data
    roots = data_roots(args, table)
    return 'full' if all(map(os.path.isdir, roots.values())) else 'toy'


def check_roots(roots: dict) -> None:
    """A missing full-data root is a one-line error saying what to do."""
    for dataset, root in roots.items():
        if not os.path.isdir(root):
            name, option = DATASET_NAMES[dataset]
            raise UserInputError(
                f'{name} root {root} does not exist: put {name} there, '
                f'pass {option} DIR, or run on the toy sets with --data toy'
            )


def parse_pretrained(values, table) -> dict:
    """``ROW=CKPT`` pairs; the row must exist and CKPT must be a file."""
    keys = [row.key for row in table.rows]
    pretrained = {}
    for value in values:
        key, sep, path = value.partition('=')
        if not sep or key not in keys:
            raise UserInputError(
                f'--pretrained {value}: give ROW=CKPT with ROW one of '
                f'{", ".join(keys)}'
            )
        if not os.path.isfile(path):
            raise UserInputError(
                f'--pretrained {key}: checkpoint {path} does not exist '
                '(pretrain it with tools/pretrain.py, or drop --pretrained '
                'to let this run pretrain it)'
            )
        pretrained[key] = path
    return pretrained


def select_rows(table, rows):
    """``table`` with only the rows named in ``rows`` (comma-separated)."""
    if not rows:
        return table
    keys = rows.split(',')
    unknown = [k for k in keys if k not in [r.key for r in table.rows]]
    if unknown:
        raise UserInputError(
            f'--rows: {", ".join(unknown)} not in {table.name} (rows: '
            f'{", ".join(r.key for r in table.rows)})'
        )
    return table._replace(rows=tuple(r for r in table.rows if r.key in keys))


def check_no_spaces(paths: dict) -> None:
    """mmengine's ``--cfg-options`` parser drops the spaces of a value,
    so a path with one cannot reach the stages: refused in one line."""
    for what, path in paths.items():
        if any(c.isspace() for c in str(path)):
            raise UserInputError(
                f"{what} {path!r} has a space, which mmengine's "
                "--cfg-options would drop from the stages' paths: use a "
                'path without spaces'
            )


def make_options(args) -> Options:
    """The run's options from the command line, checked."""
    table = select_rows(TABLES[args.table], args.rows)
    data = choose_data(args, table)
    if data == 'full':
        roots = data_roots(args, table)
        if not args.dry_run:
            check_roots(roots)
        suffix = f'-capped{args.max_epochs}' if args.max_epochs else ''
    elif args.max_epochs:
        raise UserInputError(
            '--max-epochs caps the full-data recipes; the toy data has its '
            'own --schedule (toy or smoke)'
        )
    elif args.sync_bn or args.nodes > 1:
        raise UserInputError(
            f'{"--sync-bn" if args.sync_bn else "--nodes / NNODES"} is for '
            'the distributed full-data runs; the toy data runs one process'
        )
    else:
        suffix = '-toy' if args.schedule == 'toy' else f'-{args.schedule}'
    work_dir = args.work_dir or os.path.join(
        'work_dirs', 'reproduce', table.name + suffix
    )
    if data == 'toy':
        roots = {
            'toy_coco': os.path.join(work_dir, 'data', 'toy_coco'),
            'toy_cls': os.path.join(work_dir, 'data', 'toy_cls'),
        }
    check_no_spaces(
        {
            '--work-dir': work_dir,
            **{DATASET_NAMES.get(d, (d,))[0] + ' root': r
               for d, r in roots.items()},
            **{f'--pretrained {k}': v
               for k, v in parse_pretrained(args.pretrained, table).items()},
        }
    )  # fmt: skip
    return Options(
        root=ROOT,
        table=table,
        data=data,
        schedule=args.schedule,
        gpus=args.gpus,
        seeds=args.seeds,
        work_dir=work_dir,
        roots=roots,
        pretrained=parse_pretrained(args.pretrained, table),
        max_epochs=args.max_epochs,
        nodes=args.nodes,
        sync_bn=args.sync_bn,
    )


def results_name(opts: Options, table: str = '') -> str:
    """``<table>``, ``<table>-capped<N>``, ``<table>-toy`` or
    ``<table>-smoke`` (of ``table``, by default the run's)."""
    table = table or opts.table.name
    if opts.data == 'full':
        if opts.max_epochs:
            return f'{table}-capped{opts.max_epochs}'
        return table
    return f'{table}-{opts.schedule}'


def shared_source(opts: Options, results_dir: str, row) -> str:
    """The results file of the table that runs the shared ``row``, for
    the same data and schedule."""
    return os.path.join(results_dir, results_name(opts, row.shared) + '.json')


def describe(opts: Options):
    """(data, schedule) that produce the numbers, in words."""
    if opts.data == 'full':
        data = ', '.join(
            f'{DATASET_NAMES[d][0]} at {r}' for d, r in opts.roots.items()
        )
        over = f'{opts.gpus} processes' + (
            f' on each of {opts.nodes} nodes' if opts.nodes > 1 else ''
        )
        schedule = (
            f"each config's own recipe at its total batch, over {over} "
            '(tools/dist_*.sh; processes and batch per stage in the JSON), '
            + ('BN synchronised across them (--sync-bn)' if opts.sync_bn
               else 'BN per process')
        )  # fmt: skip
        if opts.max_epochs:
            schedule += (
                f', every training stopped after {opts.max_epochs} '
                f'epoch{"s" if opts.max_epochs > 1 else ""} (--max-epochs: '
                "a test of the path, not the papers' schedules)"
            )
            if opts.table.kind == 'detection':
                schedule += (
                    ' and every detection kept at evaluation (score_thr 0, '
                    'so that the COCO evaluation runs)'
                )
        return data, schedule
    s = SCHEDULES[opts.schedule]
    detection = opts.table.kind == 'detection'
    data = (
        f'toy classification set ({s.cls_images[0]} train / '
        f'{s.cls_images[1]} val 32x32 images, 3 classes)'
    )
    if detection:
        data += (
            f' for pretraining; toy COCO set ({s.coco_images[0]} train / '
            f'{s.coco_images[1]} val 160x160 images, 3 classes)'
        )
    schedule = (
        f'{opts.schedule}: pretrain {s.pretrain_iters} iterations of '
        f'batch {s.pretrain_batch}'
    )
    if detection:
        schedule += (
            f', detect {s.detect_iters} iterations of batch {s.detect_batch}'
        )
    return data, schedule + ' (AdamW, warm-up, cosine; CPU, deterministic)'


def toy_data_lines(opts: Options):
    """The toy sets the run makes, as the maker tools' command lines."""
    s = SCHEDULES[opts.schedule]
    sets = [('toy_cls', 'make_toy_cls.py', s.cls_images)]
    if opts.table.kind == 'detection':
        sets.append(('toy_coco', 'make_toy_coco.py', s.coco_images))
    return [
        (
            name,
            images,
            [
                'python',
                f'tools/dataset_converters/{maker}',
                '--out',
                opts.roots[name],
                '--train',
                str(images[0]),
                '--val',
                str(images[1]),
            ],
        )
        for name, maker, images in sets
    ]


def make_toy_data(opts: Options, say) -> None:
    """Make the toy sets in the work dir once (a marker records them)."""
    makers = {'toy_cls': make_toy_cls, 'toy_coco': make_toy_coco}
    for name, (train, val), command in toy_data_lines(opts):
        marker = os.path.join(opts.roots[name], 'done.json')
        if os.path.isfile(marker):
            continue
        say(f'making the {name} set: {format_command(command)}')
        makers[name](opts.roots[name], num_train=train, num_val=val, seed=0)
        atomic_write('{}\n', marker)


def census_shape(opts: Options):
    """Input size of the Params / FLOPs count."""
    if opts.data == 'full':
        return opts.table.census_shape
    return (160, 160) if opts.table.kind == 'detection' else (32, 32)


def census_config(opts: Options, row) -> str:
    """The config whose model the census counts (the detector's, or the
    classifier's)."""
    pre_cfg, det_cfg = row_configs(opts, row)
    return det_cfg or pre_cfg


def dry_run(opts: Options, results_dir: str) -> None:
    """Print what the run would do, in order."""
    print(f'# {opts.table.title}: data {opts.data}, work dir {opts.work_dir}')
    if opts.data == 'toy':
        for _, _, command in toy_data_lines(opts):
            print(
                f'# toy set, made in this process as: '
                f'{format_command(command)}'
            )
    for row in opts.table.rows:
        print(
            f'# census {row.key}: Params / FLOPs of '
            f'{census_config(opts, row)} at {census_shape(opts)} (in this '
            'process, as tools/analysis_tools/get_flops.py)'
        )
    for row in opts.table.rows:
        if row.shared:
            print(
                f"# {row.key}: {row.shared}'s row, read from "
                f'{shared_source(opts, results_dir, row)} (not run here)'
            )
    for stage in table_stages(opts):
        print(f'# {stage.row} seed {stage.seed}: {stage.name}')
        print(format_command(stage.command))


def run(opts: Options, results_dir: str = 'results') -> list:
    """Run every stage (skipping finished ones), holding the work dir's
    lock; the table's summary."""

    def say(line):
        print(f'[{opts.table.name}] {line}', flush=True)

    with work_dir_lock(opts.work_dir, say=say) as lock:
        return run_locked(opts, lock, say, results_dir)


def run_locked(opts: Options, lock, say, results_dir: str = 'results'):

    if opts.data == 'toy':
        make_toy_data(opts, say)
    stages = table_stages(opts)
    shared_rows = [
        stage
        for row in opts.table.rows
        if row.shared
        for stage in row_stages(opts, row, 0)
    ]
    for stage in stages + shared_rows:  # toy classifiers' configs, counted
        write_generated_config(stage)
    census = {}
    for row in opts.table.rows:
        census[row.key] = cached_census(
            census_config(opts, row),
            census_shape(opts),
            os.path.join(row_dir(opts, row), 'census.json'),
        )
        say(
            f'{row.key}: {census[row.key]["params"]:,} params, '
            f'{census[row.key]["flops"]:,} FLOPs'
        )
    env = stage_env(cpu=opts.data == 'toy')
    if opts.data == 'full':
        env['NNODES'] = str(opts.nodes)  # what the launchers read
    metrics = {row.key: [] for row in opts.table.rows}
    trainings = {row.key: {} for row in opts.table.rows}
    for stage in stages:
        record = run_stage(
            stage, opts.work_dir, opts.root, env, say, keep_fds=(lock.fd,)
        )
        if stage.name == 'evaluate':
            metrics[stage.row].append(record['metrics'])
        if stage.batch is not None:
            trainings[stage.row][stage.name] = stage.batch.as_dict()
    configs = {}
    for row in opts.table.rows:
        pre_cfg, det_cfg = row_configs(opts, row)
        configs[row.key] = dict(pretrain=pre_cfg)
        if opts.data == 'toy' and not det_cfg:  # generated from the row's
            configs[row.key] = dict(pretrain=row.pretrain, toy=pre_cfg)
        if det_cfg:
            configs[row.key]['detect'] = det_cfg
    shared = {}
    for row in opts.table.rows:
        if row.shared:
            source = shared_source(opts, results_dir, row)
            shared[row.key] = (source, read_shared_row(source, row.key))
    data_desc, schedule_desc = describe(opts)
    return summarize(
        opts.table,
        opts.data,
        data_desc,
        schedule_desc,
        opts.seeds,
        metrics,
        census,
        configs,
        trainings=trainings,
        max_epochs=opts.max_epochs,
        shared=shared,
    )


def interrupt(signum, frame):
    """SIGTERM as Ctrl-C: the running stage is stopped, resumable, and the
    run ends in one line."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)
    if args.list:
        list_tables()
        return 0
    with one_line_errors(TOOL):
        opts = make_options(args)
        if args.dry_run:
            dry_run(opts, args.results_dir)
            return 0
        try:
            summary = run(opts, args.results_dir)
        except StageFailed as err:
            raise UserInputError(str(err)) from err
        paths = write_results(summary, args.results_dir, results_name(opts))
    for path in paths:
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
