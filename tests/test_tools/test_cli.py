"""The command-line tools, run as a user runs them (subprocesses)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config

import cpwc_mmdet  # noqa: F401
from cpwc_mmdet.utils.safe_checkpoint import safe_load
from tests.helpers import ROOT, cfg_options, run_tool, toy_overrides

FRCNN_TOY = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'
RETINA_COC_TOY = 'configs/toy/retinanet_r50-coc_fpn_toy.py'


def retina_overrides(toy_root, work_dir):
    """After 2 iterations: keep every score (all are near the prior) and let
    BN's running statistics follow the last batch, so there is something
    for pycocotools to evaluate."""
    options = toy_overrides(toy_root, work_dir)
    options['model.test_cfg.score_thr'] = 0.0
    options['model.backbone.norm_cfg.momentum'] = 1.0
    return options


@pytest.fixture(scope='module')
def trained_coc(tmp_path_factory, toy_root):
    """A toy RetinaNet-CoC trained 2 iterations by tools/train.py."""
    work_dir = tmp_path_factory.mktemp('retina_coc')
    run_tool(
        'tools/train.py',
        RETINA_COC_TOY,
        *cfg_options(retina_overrides(toy_root, work_dir)),
        check=True,
    )
    return work_dir


def test_train_then_test_prints_coco_metrics(trained_coc, toy_root):
    checkpoint = trained_coc / 'iter_2.pth'
    assert checkpoint.is_file()
    options = cfg_options(retina_overrides(toy_root, trained_coc / 'test'))
    plain = run_tool(
        'tools/test.py', RETINA_COC_TOY, str(checkpoint), *options, check=True
    )
    deploy = run_tool(
        'tools/test.py',
        RETINA_COC_TOY,
        str(checkpoint),
        '--deploy',
        *options,
        check=True,
    )
    metric_line = [
        line
        for line in plain.stdout.splitlines()
        if line.startswith('coco/bbox_mAP=')
    ]
    assert metric_line, plain.stdout[-2000:]
    assert 'Average Precision' in plain.stdout + plain.stderr
    # re-parameterisation changes nothing the metric can see
    assert metric_line == [
        line
        for line in deploy.stdout.splitlines()
        if line.startswith('coco/bbox_mAP=')
    ]


def test_reparameterize_converter_round_trip(trained_coc, tmp_path):
    src = trained_coc / 'iter_2.pth'
    dst = tmp_path / 'deploy.pth'
    out = run_tool(
        'tools/model_converters/reparameterize_model.py',
        RETINA_COC_TOY,
        str(src),
        str(dst),
        '--shape',
        '64',
        '64',
        check=True,
    ).stdout
    assert 're-parameterised' in out and 'deploy form: params' in out
    cfg = Config.fromfile(os.path.join(ROOT, RETINA_COC_TOY))
    train_model = MODELS.build(cfg.model)
    train_model.load_state_dict(safe_load(str(src))['state_dict'])
    cfg.model.backbone.deploy = True
    deploy_model = MODELS.build(cfg.model)
    deploy_model.load_state_dict(
        safe_load(str(dst))['state_dict'], strict=True
    )
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(
            train_model.eval().extract_feat(x),
            deploy_model.eval().extract_feat(x),
        ):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_dist_train_two_gloo_ranks_agree(tmp_path, toy_root):
    record_dir = tmp_path / 'records'
    config = tmp_path / 'dist_toy.py'
    config.write_text(
        f"_base_ = '{ROOT}/{FRCNN_TOY}'\n"
        "custom_imports = dict(imports=['cpwc_mmdet', 'tests.dist_helpers'],"
        ' allow_failed_imports=False)\n'
        f"custom_hooks = [dict(type='RankRecordHook', out_dir='{record_dir}')]"
        '\n'
    )
    options = toy_overrides(toy_root, tmp_path)
    options['train_dataloader.batch_size'] = 1
    env = dict(
        os.environ, PYTHON=sys.executable, PORT='29531', OMP_NUM_THREADS='1'
    )
    result = subprocess.run(
        [
            'bash',
            'tools/dist_train.sh',
            str(config),
            '2',
            *cfg_options(options),
        ],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'gloo' in result.stderr  # no CUDA: the launcher said so
    records = [
        json.loads((record_dir / f'rank{r}.json').read_text()) for r in (0, 1)
    ]
    assert [r['world_size'] for r in records] == [2, 2]
    assert [r['iters'] for r in records] == [2, 2]
    assert records[0]['mean'] == records[1]['mean']  # the all-reduced loss
    assert records[0]['local'] != records[1]['local']  # different data
    assert records[0]['checksum'] == records[1]['checksum']  # DDP in sync


def test_a_distributed_tool_destroys_its_process_group_at_exit(tmp_path):
    """--launcher pytorch: the gloo group is destroyed before interpreter
    teardown (left alive, gloo's threads can SIGABRT a finished run)."""
    code = (
        'import atexit, torch.distributed as dist\n'
        'atexit.register(lambda: print("alive at exit:",'
        ' dist.is_initialized(), flush=True))\n'
        'from mmengine.config import Config\n'
        'from cpwc_mmdet.cli.runner import set_launcher\n'
        'set_launcher(Config(dict(model=dict())), "pytorch")\n'
        'print("joined:", dist.is_initialized(), flush=True)\n'
    )
    env = dict(
        os.environ, RANK='0', WORLD_SIZE='1', LOCAL_RANK='0',
        MASTER_ADDR='127.0.0.1', MASTER_PORT='29651', CUDA_VISIBLE_DEVICES='',
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, '-c', code], cwd=ROOT, env=env, text=True,
        capture_output=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [
        'joined: True',
        'alive at exit: False',
    ]
