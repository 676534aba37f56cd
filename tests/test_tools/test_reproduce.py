"""tools/reproduce.py: the tables as resumable pipelines of the project's
tools. The listing and dry runs of every table (stage order, launchers);
the toy Table 3 pipeline end to end on the smoke schedule; a run killed in
its detection stage that resumes to the same table; one-line errors."""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import types

import pytest
import torch
from mmengine.config import Config

from cpwc_mmdet.reproduce.batches import (
    BatchPlan,
    epoch_cap_options,
    plan_batch,
    recipe_batch,
)
from cpwc_mmdet.reproduce.census import model_census
from cpwc_mmdet.reproduce.lock import LOCK, work_dir_lock
from cpwc_mmdet.reproduce.plan import Options, table_stages
from cpwc_mmdet.reproduce.schedules import DATA_ROOTS
from cpwc_mmdet.reproduce.tables import TABLES
from cpwc_mmdet.utils.errors import UserInputError
from cpwc_mmdet.utils.safe_checkpoint import safe_load
from tests.helpers import ROOT, assert_one_line_error, load_tool, run_tool

SMOKE = ('cpwc-table3', '--data', 'toy', '--schedule', 'smoke')
DETECTION_STAGES = ['pretrain', 'bridge', 'detect', 'evaluate']
CLASSIFICATION_STAGES = ['pretrain', 'evaluate']
TRAINING_STAGES = ('pretrain', 'detect')


@pytest.fixture(scope='module')
def reproduce():
    return load_tool('reproduce')


def run_main(tool, capsys, *args):
    """tool.main(args) as a finished process."""
    try:
        code = tool.main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return types.SimpleNamespace(
        returncode=code, stdout=out.out, stderr=out.err
    )


def planned_stages(stdout):
    """[(row, seed, stage, argv)] from a dry run's output."""
    lines = stdout.splitlines()
    stages = []
    for label, command in zip(lines, lines[1:]):
        if not label.startswith('# ') or command.startswith('#'):
            continue
        row, _, rest = label[2:].partition(' seed ')
        seed, _, stage = rest.partition(': ')
        stages.append((row, int(seed), stage, shlex.split(command)))
    return stages


def option(argv, key):
    """The value of ``key=`` among a command's --cfg-options."""
    for arg in argv:
        if arg.startswith(key + '='):
            return arg.split('=', 1)[1]
    raise AssertionError(f'{key} not in {argv}')


def test_list_names_every_table_and_row(reproduce, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run_main(reproduce, capsys, '--list')
    assert result.returncode == 0
    for table in TABLES.values():
        assert table.name in result.stdout
        for row in table.rows:
            assert row.pretrain in result.stdout
            assert row.detect is None or row.detect in result.stdout
    assert 'AP 30.3, AP50 51.3' in result.stdout  # Table 3's baseline
    # classification rows carry the paper's Params and FLOPs
    assert 'top-1 76.0, Params 25.56M, FLOPs 4.0G' in result.stdout


def test_rows_name_existing_configs_and_the_census_rows():
    for table in TABLES.values():
        for row in table.rows:
            for config in row[2:6]:  # pretrain, detect and their toy ones
                assert config is None or os.path.isfile(
                    os.path.join(ROOT, config)
                ), config
    keys = [r.key for t in TABLES.values() for r in t.rows]
    for table in TABLES.values():
        assert len({r.key for r in table.rows}) == len(table.rows)
        if table.kind == 'classification' and table.name != 'cpwc-table4':
            # the census compares every row with the paper's figures
            assert all(r.paper_params and r.paper_flops for r in table.rows)
    assert 'resnet164-cpwc-no-pwc' in keys


def test_census_counts_the_deploy_form_and_the_train_form():
    """CoC re-parameterises to the baseline's convs: the form that ships
    has the baseline's Params and FLOPs, the form that trains has more."""
    base, coc = (
        model_census(os.path.join(ROOT, 'configs/toy', name), (64, 64))
        for name in (
            'retinanet_r50_fpn_toy.py',
            'retinanet_r50-coc_fpn_toy.py',
        )
    )
    assert (base['train_params'], base['train_flops']) == (
        base['params'],
        base['flops'],
    )
    assert (coc['params'], coc['flops']) == (base['params'], base['flops'])
    assert coc['train_params'] > coc['params']
    assert coc['train_flops'] > coc['flops']


@pytest.mark.parametrize('data', ['full', 'toy'])
@pytest.mark.parametrize('name', sorted(TABLES))
def test_dry_run_prints_each_row_in_stage_order(
    reproduce, capsys, tmp_path, monkeypatch, name, data
):
    monkeypatch.chdir(ROOT)  # tools and configs print relative to here
    table = TABLES[name]
    work = tmp_path / 'work'
    result = run_main(
        reproduce,
        capsys,
        name,
        '--dry-run',
        '--data',
        data,
        '--gpus',
        '4',
        '--seeds',
        '2',
        '--work-dir',
        work,
    )
    assert result.returncode == 0, result.stderr
    assert not work.exists()  # a dry run writes nothing
    stages = planned_stages(result.stdout)
    expected = (
        DETECTION_STAGES
        if table.kind == 'detection'
        else CLASSIFICATION_STAGES
    )
    for seed in (0, 1):
        for row in table.rows:
            mine = [s for s in stages if s[:2] == (row.key, seed)]
            if row.shared:  # another table's run gives its figures
                assert not mine
                assert f"# {row.key}: {row.shared}'s row, read from " in (
                    result.stdout
                )
                continue
            assert [s[2] for s in mine] == expected
            argv = {s[2]: s[3] for s in mine}
            if data == 'full':
                assert argv['pretrain'][:2] == [
                    'bash',
                    'tools/dist_pretrain.sh',
                ]
                assert argv['pretrain'][2:4] == [row.pretrain, '4']
            else:
                assert argv['pretrain'][:2] == [
                    sys.executable,
                    'tools/pretrain.py',
                ]
            assert option(argv['pretrain'], 'randomness.seed') == str(seed)
            pretrained = os.path.join(
                str(work), row.key, f'seed{seed}', 'pretrain', 'last.pth'
            )
            if table.kind == 'classification':
                assert '--test' in argv['evaluate']
                assert pretrained in argv['evaluate']
                continue
            bridge, detect, evaluate = (
                argv['bridge'],
                argv['detect'],
                argv['evaluate'],
            )
            assert (
                bridge[1] == 'tools/model_converters/pretrain_to_detector.py'
            )
            assert bridge[2] == pretrained
            checkpoint = option(detect, 'model.backbone.init_cfg.checkpoint')
            assert checkpoint == bridge[3]
            assert evaluate[3] == os.path.join(
                str(work), row.key, f'seed{seed}', 'detect', 'last.pth'
            )
            if data == 'full':
                assert detect[:4] == [
                    'bash',
                    'tools/dist_train.sh',
                    row.detect,
                    '4',
                ]
                assert evaluate[:3] == [
                    'bash',
                    'tools/dist_test.sh',
                    row.detect,
                ]
                assert evaluate[4] == '4'
            else:
                assert detect[1] == 'tools/train.py'
                assert evaluate[1] == 'tools/test.py'
                assert detect[2] == row.toy_detect
            if 'roi_head.shared_head' in table.init_prefixes:
                assert (
                    option(
                        detect,
                        'model.roi_head.shared_head.init_cfg.checkpoint',
                    )
                    == checkpoint
                )


@pytest.mark.parametrize('name', sorted(TABLES))
def test_every_training_keeps_its_recipe_batch(name, tmp_path, monkeypatch):
    """Whatever --gpus is (1, 2, 4, 8), each pretraining and detection
    stage of every row runs at its config's recipe batch: processes x
    train_dataloader.batch_size, in the command and in the stage's plan."""
    monkeypatch.chdir(ROOT)
    table = TABLES[name]
    for gpus in (1, 2, 4, 8):
        opts = Options(
            root=ROOT, table=table, data='full', schedule='toy', gpus=gpus,
            seeds=1, work_dir=str(tmp_path), roots=dict(DATA_ROOTS),
            pretrained={},
        )  # fmt: skip
        trainings = [
            s for s in table_stages(opts) if s.name in TRAINING_STAGES
        ]
        own = [row for row in table.rows if not row.shared]
        assert len(trainings) == len(own) * (
            2 if table.kind == 'detection' else 1
        )
        for stage in trainings:
            argv = list(stage.command)
            config, processes = argv[2], int(argv[3])
            per_process = int(option(argv, 'train_dataloader.batch_size'))
            recipe = recipe_batch(Config.fromfile(config))
            assert processes == gpus
            assert processes * per_process == recipe, (stage.row, config)
            assert stage.batch == BatchPlan(recipe, gpus, per_process)


def test_a_batch_that_does_not_split_is_one_line(tmp_path):
    config = tmp_path / 'r50_3xb2_odd.py'
    config.write_text(
        'auto_scale_lr = dict(base_batch_size=6)\n'
        'train_cfg = dict(max_epochs=12)\n'
    )
    assert plan_batch(str(config), 3) == BatchPlan(6, 3, 2)
    with pytest.raises(UserInputError) as err:
        plan_batch(str(config), 4)
    assert str(err.value) == (
        'r50_3xb2_odd.py: its recipe batch 6 does not split over 4 '
        'processes; use a process count (--gpus x --nodes) that divides '
        'it: 1 / 2 / 3 / 6'
    )
    assert epoch_cap_options(str(config), 1) == {'train_cfg.max_epochs': 1}


def test_the_batch_split_counts_nodes(reproduce, capsys, monkeypatch):
    """dist_*.sh start --gpus processes on each of NNODES nodes: Table 3's
    batch 24 over 4 GPUs x 2 nodes is 3 per process (not 6), from
    --nodes or from the NNODES the launchers read; a count that does not
    divide 24 lists every one that does."""
    monkeypatch.chdir(ROOT)
    for args, env in (((), {'NNODES': '2'}), (('--nodes', 2), {})):
        monkeypatch.delenv('NNODES', raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        result = run_main(
            reproduce, capsys, 'cpwc-table3', '--dry-run', '--data', 'full',
            '--gpus', 4, '--rows', 'cpwc', *args,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        detect = next(
            argv
            for _, _, stage, argv in planned_stages(result.stdout)
            if stage == 'detect'
        )
        assert detect[3] == '4'  # processes per node
        assert option(detect, 'train_dataloader.batch_size') == '3'
    with pytest.raises(UserInputError) as err:
        plan_batch(os.path.join(ROOT, 'configs/faster_rcnn_r50_cpwc_coco.py'),
                   4, nodes=4)  # fmt: skip
    assert str(err.value) == (
        'faster_rcnn_r50_cpwc_coco.py: its recipe batch 24 does not split '
        'over 16 processes (4 GPUs x 4 nodes); use a process count (--gpus '
        'x --nodes) that divides it: 1 / 2 / 3 / 4 / 6 / 8 / 12 / 24'
    )


def test_sync_bn_reaches_every_training_and_only_them(
    reproduce, capsys, monkeypatch
):
    from cpwc_mmdet.cli import load_config

    monkeypatch.chdir(ROOT)
    monkeypatch.delenv('NNODES', raising=False)
    monkeypatch.setenv('LOCAL_RANK', '0')  # parse_args exports it
    result = run_main(
        reproduce, capsys, 'coc-retinanet', '--dry-run', '--data', 'full',
        '--rows', 'coc', '--sync-bn',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stages = {
        stage: argv for _, _, stage, argv in planned_stages(result.stdout)
    }
    for stage in TRAINING_STAGES:
        argv = stages[stage]
        assert option(argv, 'sync_bn') == 'torch'
        # what tools/train.py and tools/pretrain.py make of it: mmengine's
        # Runner converts every BN to SyncBatchNorm when distributed
        tool = load_tool('train' if stage == 'detect' else 'pretrain')
        args = tool.parse_args(argv[2:3] + argv[4:])
        assert load_config(args.config, args.cfg_options).sync_bn == 'torch'
    assert not any(a.startswith('sync_bn=') for a in stages['evaluate'])
    plain = run_main(
        reproduce, capsys, 'coc-retinanet', '--dry-run', '--data', 'full',
        '--rows', 'coc',
    )  # fmt: skip
    assert 'sync_bn=' not in plain.stdout
    toy = run_main(reproduce, capsys, 'coc-retinanet', '--data', 'toy',
                   '--sync-bn')  # fmt: skip
    assert toy.returncode == 2
    assert toy.stderr.strip().endswith(
        '--sync-bn is for the distributed full-data runs; the toy data '
        'runs one process'
    )


def test_table4_has_the_papers_five_rows_three_of_them_table1s(tmp_path):
    from cpwc_mmdet.reproduce.results import (
        read_shared_row,
        summarize,
        to_markdown,
    )

    table4, table1 = TABLES['cpwc-table4'], TABLES['cpwc-table1']
    assert [(r.name, r.paper['top-1']) for r in table4.rows] == [
        ('ResNet-164', 77.0),
        ('ResNet-200', 77.5),
        ('ResNet-164 CPWC w/o PWC & stage 2', 70.8),
        ('ResNet-164 CPWC w/o PWC', 71.6),
        ('ResNet-164 CPWC', 78.4),
    ]
    mine = {r.key: r for r in table1.rows}
    for row in table4.rows:
        if row.shared:
            assert row.shared == 'cpwc-table1'
            assert row.pretrain == mine[row.key].pretrain
            assert row.paper == mine[row.key].paper
    assert [r.key for r in table4.rows if not r.shared] == [
        'resnet164-cpwc-no-pwc-no-stage2',
        'resnet164-cpwc-no-pwc',
    ]
    # Table 1's results file gives the shared rows' figures; without it
    # they show the paper's alone
    ours = dict(mean=76.5, std=None, per_seed=[76.5])
    source = tmp_path / 'cpwc-table1.json'
    source.write_text(json.dumps(dict(rows=[dict(
        key='resnet164', ours={'top-1': ours},
        ours_minus_paper={'top-1': -0.5}, trainings={})])))  # fmt: skip
    census = {
        r.key: dict(params=1, flops=2, train_params=1, train_flops=2,
                    flops_of='x', input=[32, 32])
        for r in table4.rows
    }  # fmt: skip
    shared = {
        r.key: (str(source), read_shared_row(str(source), r.key))
        for r in table4.rows
        if r.shared
    }
    summary = summarize(
        table4, 'full', 'CIFAR-100', 'recipe', 1,
        {r.key: [{'accuracy/top1': 70.0}] for r in table4.rows
         if not r.shared},
        census, {r.key: {} for r in table4.rows}, shared=shared,
    )  # fmt: skip
    rows = {r['key']: r for r in summary['rows']}
    assert rows['resnet164']['ours']['top-1'] == ours
    assert rows['resnet200']['ours']['top-1'] is None
    assert rows['resnet164-cpwc-no-pwc']['ours']['top-1']['mean'] == 70.0
    text = to_markdown(summary)
    assert '| ResNet-164 | 77.0 | 76.50 | -0.50 |' in text
    assert '| ResNet-200 | 77.5 | — | — |' in text
    assert "cpwc-table1's row, not run here" in text


def test_max_epochs_caps_every_training_and_names_the_results(
    reproduce, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(ROOT)
    result = run_main(
        reproduce, capsys, 'cpwc-table3', '--dry-run', '--data', 'full',
        '--max-epochs', 1, '--work-dir', tmp_path / 'work',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for _, _, stage, argv in planned_stages(result.stdout):
        if stage in TRAINING_STAGES:
            assert option(argv, 'train_cfg.max_epochs') == '1'
    toy = run_main(
        reproduce, capsys, 'cpwc-table3', '--data', 'toy', '--max-epochs', 1
    )
    assert toy.returncode == 2
    assert toy.stderr.strip().endswith(
        '--max-epochs caps the full-data recipes; the toy data has its own '
        '--schedule (toy or smoke)'
    )


def smoke(work, results):
    """The smoke run of Table 3's toy pipeline as a command line."""
    return [
        sys.executable,
        'tools/reproduce.py',
        *SMOKE,
        '--work-dir',
        str(work),
        '--results-dir',
        str(results),
    ]


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """One uninterrupted smoke run: (result, work dir, results dir)."""
    base = tmp_path_factory.mktemp('reproduce')
    work, results = base / 'work', base / 'results'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    result = subprocess.run(
        smoke(work, results),
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=900,
    )
    assert result.returncode == 0, (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
    return result, work, results


def test_smoke_pipeline_writes_its_table(uninterrupted):
    result, work, results = uninterrupted
    with open(results / 'cpwc-table3-smoke.json') as f:
        summary = json.load(f)
    markdown = (results / 'cpwc-table3-smoke.md').read_text()
    assert 'toy' in summary['title'] and 'toy' in markdown.splitlines()[0]
    assert [r['key'] for r in summary['rows']] == ['baseline', 'cpwc']
    for row in summary['rows']:
        for metric in ('AP', 'AP50'):
            ours = row['ours'][metric]
            assert len(ours['per_seed']) == 1
            assert 0 <= ours['mean'] <= 100
        assert row['params'] > 0 and row['flops'] > 0
        assert row['name'] in markdown
    cpwc = summary['rows'][1]
    assert cpwc['paper'] == {'AP': 31.7, 'AP50': 52.4}
    assert summary['rows'][1]['params'] > summary['rows'][0]['params']
    # every stage left its marker, written after its outputs
    for row in ('baseline', 'cpwc'):
        for stage in DETECTION_STAGES:
            assert (work / row / 'seed0' / stage / 'done.json').is_file()


def wait_for(path, proc, seconds=600):
    deadline = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None, 'the run ended before the checkpoint'
        assert time.time() < deadline, f'{path} never appeared'
        time.sleep(0.05)


def test_killed_run_resumes_to_the_same_table(uninterrupted, tmp_path):
    _, fresh_work, fresh_results = uninterrupted
    work, results = tmp_path / 'work', tmp_path / 'results'
    detect = work / 'baseline' / 'seed0' / 'detect'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    with open(tmp_path / 'killed.log', 'w') as log:
        proc = subprocess.Popen(
            smoke(work, results),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the stage's process too
        )
        try:
            wait_for(detect / 'last_checkpoint', proc)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not (detect / 'done.json').exists()
    assert not (results / 'cpwc-table3-smoke.json').exists()

    resumed = run_tool(*smoke(work, results)[1:], env=env, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    for stage in ('pretrain', 'bridge'):
        assert f'baseline seed 0: {stage}: finished before, skipped' in (
            resumed.stdout
        )
    assert 'baseline seed 0: detect: resuming' in resumed.stdout
    with open(detect / 'done.json') as f:
        assert json.load(f)['resumed'] is True

    # the same table, number for number, and the same trained weights
    with open(results / 'cpwc-table3-smoke.json') as f:
        table = json.load(f)
    with open(fresh_results / 'cpwc-table3-smoke.json') as f:
        assert table == json.load(f)
    mine = safe_load(str(detect / 'last.pth'))['state_dict']
    theirs = safe_load(
        str(fresh_work / 'baseline' / 'seed0' / 'detect' / 'last.pth')
    )['state_dict']
    assert mine.keys() == theirs.keys()
    for key in mine:
        torch.testing.assert_close(mine[key], theirs[key], rtol=0, atol=0)


def test_missing_data_root_is_one_line(tmp_path):
    result = run_tool(
        'tools/reproduce.py',
        'cpwc-table3',
        '--data',
        'full',
        '--coco-root',
        str(tmp_path / 'no_coco'),
    )
    assert_one_line_error(
        result,
        'reproduce.py: error:',
        'COCO root',
        '--coco-root',
        '--data toy',
    )


def test_missing_pretrained_checkpoint_is_one_line(tmp_path):
    result = run_tool(
        'tools/reproduce.py',
        *SMOKE,
        '--work-dir',
        str(tmp_path),
        '--pretrained',
        f'cpwc={tmp_path / "missing.pth"}',
    )
    assert_one_line_error(
        result, 'reproduce.py: error:', 'missing.pth', 'does not exist'
    )
    assert not (tmp_path / 'data').exists()


def test_classification_row_pretrains_then_tests_top1(tmp_path):
    """Table 1's MobileNetV2 on the toy set: its own model through a
    generated toy config, pretrain -> ``pretrain.py --test`` (top-1)."""
    result = run_tool(
        'tools/reproduce.py',
        'cpwc-table1',
        '--data',
        'toy',
        '--schedule',
        'smoke',
        '--rows',
        'mobilenet-v2',
        '--work-dir',
        str(tmp_path / 'work'),
        '--results-dir',
        str(tmp_path / 'results'),
        env=dict(os.environ, OMP_NUM_THREADS='1'),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    with open(tmp_path / 'results' / 'cpwc-table1-smoke.json') as f:
        (row,) = json.load(f)['rows']
    assert row['paper'] == {'top-1': 74.1}
    assert 0 <= row['ours']['top-1']['mean'] <= 100
    assert row['configs']['pretrain'] == (
        'configs/cpwc/mobilenet-v2_1xb128_cifar100.py'
    )
    evaluate = tmp_path / 'work' / 'mobilenet-v2' / 'seed0' / 'evaluate'
    with open(evaluate / 'done.json') as f:
        assert '--test' in json.load(f)['command']


def copy_work(work, to):
    shutil.copytree(work, to, symlinks=True)
    return to


def test_rerun_of_a_moved_work_dir_from_another_cwd_skips_every_stage(
    uninterrupted, tmp_path
):
    _, fresh_work, fresh_results = uninterrupted
    copy_work(fresh_work, tmp_path / 'moved')
    results = tmp_path / 'results'
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'reproduce.py'), *SMOKE,
         '--work-dir', 'moved', '--results-dir', 'results'],
        cwd=tmp_path, text=True, capture_output=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    for row in ('baseline', 'cpwc'):
        for stage in DETECTION_STAGES:
            line = f'{row} seed 0: {stage}: finished before, skipped'
            assert line in result.stdout
    mine = json.loads((results / 'cpwc-table3-smoke.json').read_text())
    theirs = json.loads((fresh_results / 'cpwc-table3-smoke.json').read_text())
    assert [r['ours'] for r in mine['rows']] == [
        r['ours'] for r in theirs['rows']
    ]


def test_an_unreadable_done_json_reruns_its_stage_in_one_line(
    uninterrupted, tmp_path
):
    _, fresh_work, _ = uninterrupted
    work = copy_work(fresh_work, tmp_path / 'work')
    marker = work / 'cpwc' / 'seed0' / 'evaluate' / 'done.json'
    marker.write_text(marker.read_text()[:25])  # a killed write
    result = run_tool(
        'tools/reproduce.py', *SMOKE, '--work-dir', str(work),
        '--results-dir', str(tmp_path / 'results'),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert (
        f'cpwc seed 0: evaluate: {marker} is unreadable (JSONDecodeError); '
        'running the stage again'
    ) in result.stdout
    assert 'cpwc seed 0: evaluate: running' in result.stdout
    assert json.loads(marker.read_text())['stage'] == 'evaluate'


def test_a_second_run_on_a_work_dir_in_use_is_one_line(tmp_path):
    with work_dir_lock(str(tmp_path / 'work')):
        result = run_tool(
            'tools/reproduce.py', *SMOKE, '--work-dir', str(tmp_path / 'work')
        )
    assert_one_line_error(
        result,
        'reproduce.py: error:',
        'is in use by another reproduce.py run',
        f'(process {os.getpid()})',
    )


def test_a_lock_left_by_a_killed_run_is_stale(tmp_path):
    (tmp_path / LOCK).write_text('4194303\n')  # its holder is gone
    with work_dir_lock(str(tmp_path)) as lock:
        assert open(lock.path).read() == f'{os.getpid()}\n'


def _hold_lock_in_another_process(path, seconds):
    """A process that holds ``path``'s flock for ``seconds`` (as a killed
    run's stage would, its holder pid in the file being dead)."""
    code = (
        'import fcntl, os, sys, time\n'
        f'fd = os.open({str(path)!r}, os.O_RDWR)\n'
        'fcntl.flock(fd, fcntl.LOCK_EX)\n'
        'print("held", flush=True)\n'
        f'time.sleep({seconds})\n'
    )
    holder = subprocess.Popen(
        [sys.executable, '-c', code], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline() == 'held\n'
    return holder


@pytest.mark.parametrize('seconds', [1.5, 30])
def test_a_killed_runs_stage_still_holding_the_lock_is_waited_for(
    tmp_path, seconds
):
    (tmp_path / LOCK).write_text('4194303\n')  # the killed run
    holder = _hold_lock_in_another_process(tmp_path / LOCK, seconds)
    said = []
    try:
        if seconds < 5:
            with work_dir_lock(str(tmp_path), wait=20, say=said.append):
                assert holder.poll() is not None  # taken once it ended
        else:
            with pytest.raises(UserInputError, match='still locked by the '
                               r'stage of a killed .* after 1 s'):  # fmt: skip
                with work_dir_lock(str(tmp_path), wait=1, say=said.append):
                    pass
    finally:
        holder.kill()
        holder.wait()
    assert said == [
        f'{tmp_path}: waiting for the stage of a killed run (process '
        '4194303) to exit'
    ]


def test_a_stage_gets_sigterm_when_its_run_is_killed(tmp_path):
    """SIGKILL to reproduce.py (its process group, as the OOM killer or
    ``kill -9``) leaves no stage running on (Linux: PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith('linux'):
        pytest.skip('PR_SET_PDEATHSIG is Linux only')
    pid_file = tmp_path / 'stage.pid'
    code = (
        'from cpwc_mmdet.reproduce.stages import run_command\n'
        f'run_command(["bash", "-c", "echo $$ > {pid_file}; exec sleep 60"],'
        f' {str(tmp_path / "stage.log")!r})\n'
    )
    run = subprocess.Popen(
        [sys.executable, '-c', code], cwd=ROOT, start_new_session=True
    )
    deadline = time.time() + 60
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.time() < deadline and run.poll() is None
        time.sleep(0.1)
    stage = int(pid_file.read_text())
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.time() + 10
    while os.path.exists(f'/proc/{stage}') and _state(stage) != 'Z':
        assert time.time() < deadline, 'the stage outlived its run'
        time.sleep(0.1)


def _state(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except FileNotFoundError:
        return 'gone'


@pytest.mark.parametrize('what', ['work', 'coco'])
def test_a_path_with_a_space_is_one_line(tmp_path, what):
    spaced = tmp_path / 'my data'
    spaced.mkdir()
    if what == 'work':
        args = ['--data', 'toy', '--work-dir', str(spaced)]
    else:
        args = ['--data', 'full', '--coco-root', str(spaced),
                '--imagenet-root', str(spaced),
                '--work-dir', str(tmp_path / 'w')]  # fmt: skip
    result = run_tool('tools/reproduce.py', 'cpwc-table3', *args)
    assert_one_line_error(result, 'has a space', 'without spaces')


def processes_naming(text):
    """Pids of live processes whose command line contains ``text``."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_sigterm_stops_the_stage_and_ends_in_one_line(tmp_path):
    work = tmp_path / 'work'
    proc = subprocess.Popen(
        smoke(work, tmp_path / 'results'), cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, OMP_NUM_THREADS='1'),
    )  # fmt: skip
    try:
        pretrain = work / 'baseline' / 'seed0' / 'pretrain'
        wait_for(pretrain / 'stage.log', proc)
        deadline = time.time() + 120
        while not processes_naming(str(pretrain)):  # the stage's process
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # to reproduce.py alone
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == (
        'reproduce.py: error: interrupted (SIGTERM)'
    )
    assert 'Traceback' not in err
    deadline = time.time() + 30
    while processes_naming(str(pretrain)):
        assert time.time() < deadline, 'the stage outlived reproduce.py'
        time.sleep(0.2)
    assert not (pretrain / 'done.json').exists()


@pytest.mark.parametrize(
    'doc', ['docs/reproduce.md', 'configs/cpwc/README.md']
)
def test_the_docs_show_table4s_five_rows_with_the_papers_top1(doc):
    with open(os.path.join(ROOT, doc)) as f:
        text = f.read()
    assert 'no figures in the paper' not in text
    lines = [line for line in text.splitlines() if line.startswith('| ')]
    for row in TABLES['cpwc-table4'].rows:
        named = row.name if doc.endswith('reproduce.md') else row.pretrain
        found = [
            line
            for line in lines
            if os.path.basename(named) in line
            and f'| {row.paper["top-1"]} |' in line
        ]
        assert found, (doc, row.name)
        # Params and FLOPs: two exact counts beside the figure
        assert sum(cell.strip().replace(',', '').isdigit()
                   for cell in found[-1].split('|')) >= 2, found[-1]  # fmt: skip
