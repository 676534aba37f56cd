"""The main job (``make demo``): train and COCO-evaluate a toy detector.

1. Makes the toy COCO set in data/toy_coco/ if it is missing.
2. Trains configs/toy/faster-rcnn_r50-cpwc_c4_toy.py (Faster R-CNN C4 with a
   CPWC ResNet-50 backbone and CPWC shared head) from scratch on the CPU,
   showing one progress line (iteration, loss, speed, ETA); mmengine's full
   log goes to WORK_DIR/<timestamp>/<timestamp>.log.
3. Evaluates on the toy val split with mmdet's CocoMetric (pycocotools) and
   prints the COCO table, with the targets: bbox mAP >= 0.5, under 15 minutes.
4. Draws WORK_DIR/predictions.png (val images, ground truth and predicted
   boxes side by side, through mmdet's DetLocalVisualizer) and
   WORK_DIR/curves.png (losses and mAP over iterations).

Usage::

    python tools/demo.py [--config CFG] [--work-dir DIR] [--max-iters N]
        [--score-thr S] [--num-images N]
"""

import os
import os.path as osp
import sys
import time

from mmengine.model import is_model_wrapper

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.cli import (
    ArgumentParser,
    build_user_error,
    load_config,
    one_line_errors,
)
from cpwc_mmdet.cli.preflight import preflight
from cpwc_mmdet.cli.runner import set_work_dir
from cpwc_mmdet.datasets import make_toy_coco
from cpwc_mmdet.engine.console_progress import (
    ConsoleProgressHook,
    QuietConsoleRunner,
    prints_to_log,
)
from cpwc_mmdet.utils.text_table import format_table
from cpwc_mmdet.visualization import (
    find_scalars_file,
    load_scalars,
    plot_training_curves,
    prediction_grid,
    save_figure,
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

DEFAULT_CONFIG = 'configs/toy/faster-rcnn_r50-cpwc_c4_toy.py'
#: the path options' defaults, relative to the repository
PATH_DEFAULTS = dict(
    config=DEFAULT_CONFIG,
    work_dir='work_dirs/demo',
    data_root='data/toy_coco',
)
COCO_KEYS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
TARGET_MAP, TARGET_MINUTES = 0.5, 15
#: box colours of predictions.png (RGB): the toy classes would inherit COCO's
#: first palette entries, two of them near-identical dark reds
PALETTE = [
    (255, 64, 64),
    (64, 160, 255),
    (255, 220, 0),
    (0, 230, 120),
    (255, 128, 255),
    (255, 255, 255),
]


def parse_args(argv=None):
    parser = ArgumentParser(
        description='Train and evaluate a toy detector on the CPU'
    )
    parser.add_argument('--config', default=PATH_DEFAULTS['config'])
    parser.add_argument('--work-dir', default=PATH_DEFAULTS['work_dir'])
    parser.add_argument(
        '--max-iters', type=int, help='override the schedule length'
    )
    parser.add_argument('--data-root', default=PATH_DEFAULTS['data_root'])
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.5,
        help='draw predictions scoring above this',
    )
    parser.add_argument(
        '--num-images',
        type=int,
        default=8,
        help='val images in predictions.png',
    )
    return parser.parse_args(argv)


def coco_rows(message_hub, metric_prefixes):
    """(task, AP, AP50, ...) rows from the runtime scalars of the last val."""
    rows = []
    for task in metric_prefixes:
        values = []
        for key in COCO_KEYS:
            name = f'val/coco/{task}_{key}'
            scalars = message_hub.log_scalars
            values.append(
                f'{scalars[name].current():.3f}' if name in scalars else '-'
            )
        rows.append([task, *values])
    return rows


def use_data_root(cfg, root: str) -> None:
    """Point the config's dataloaders, and its evaluators' annotation
    files, at ``root`` (the toy set ``--data-root`` names)."""
    old = cfg.train_dataloader.dataset.data_root
    root = root.rstrip('/') + '/'
    for split in ('train', 'val', 'test'):
        if cfg.get(f'{split}_dataloader'):
            cfg[f'{split}_dataloader'].dataset.data_root = root
    for split in ('val', 'test'):
        evaluator = cfg.get(f'{split}_evaluator') or {}
        ann_file = evaluator.get('ann_file', '')
        if ann_file.startswith(old):
            evaluator.ann_file = root + ann_file[len(old) :]


def build_quiet_runner(cfg):
    """The Runner of ``cfg`` with a quiet console (warnings only; the log
    file keeps everything); build errors become one line."""
    try:
        return QuietConsoleRunner.from_cfg(cfg)
    except (KeyError, ValueError, TypeError) as err:
        raise build_user_error(err) from err


def draw_pictures(runner, work_dir, score_thr, num_images):
    """predictions.png and curves.png in ``work_dir``; their paths."""
    model = (
        runner.model.module if is_model_wrapper(runner.model) else runner.model
    )
    dataset = runner.val_loop.dataloader.dataset
    predictions = osp.join(work_dir, 'predictions.png')
    classes = dataset.metainfo.get('classes') or ()
    palette = PALETTE[: len(classes)] if len(classes) <= len(PALETTE) else None
    fig = prediction_grid(
        model, dataset, num_images, score_thr, palette=palette
    )
    save_figure(fig, predictions)
    scalars = load_scalars(find_scalars_file(runner.log_dir))
    curves = osp.join(work_dir, 'curves.png')
    save_figure(
        plot_training_curves({osp.basename(work_dir): scalars}), curves
    )
    return predictions, curves


def main(argv=None):
    args = parse_args(argv)
    for name in ('config', 'work_dir', 'data_root'):  # the caller's paths
        if getattr(args, name) != PATH_DEFAULTS[name]:
            setattr(args, name, osp.abspath(getattr(args, name)))
    os.chdir(ROOT)  # the defaults are the repository's
    start = time.time()
    if not osp.isfile(
        osp.join(args.data_root, 'annotations', 'instances_val.json')
    ):
        print(f'[demo] making the toy set in {args.data_root}/')
        make_toy_coco(args.data_root)
    with one_line_errors('demo.py'):
        cfg = load_config(args.config)
        set_work_dir(cfg, args.config, args.work_dir)
        use_data_root(cfg, args.data_root)
        if args.max_iters:
            scale = args.max_iters / cfg.train_cfg.max_iters
            cfg.train_cfg.max_iters = args.max_iters
            cfg.train_cfg.val_interval = args.max_iters
            for scheduler in cfg.param_scheduler:  # same shape, shorter
                scheduler.begin = round(scheduler.begin * scale)
                scheduler.end = max(
                    scheduler.begin + 1, round(scheduler.end * scale)
                )
        preflight(cfg, splits=('train', 'val'))
        runner = build_quiet_runner(cfg)
    runner.register_hook(ConsoleProgressHook(interval=50))
    print(
        f'[demo] training {args.config} for {cfg.train_cfg.max_iters} '
        f'iterations on the CPU; full log: {runner.logger.log_file}'
    )
    with prints_to_log(runner.logger):  # pycocotools' chatter
        runner.train()  # validates with CocoMetric after the last iteration
    minutes = (time.time() - start) / 60
    metrics = cfg.val_evaluator.metric
    tasks = [metrics] if isinstance(metrics, str) else list(metrics)
    rows = coco_rows(runner.message_hub, tasks)
    print('\nCOCO evaluation on the toy val split (pycocotools):')
    print(
        format_table(['task', 'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'], rows)
    )
    bbox_map = float(rows[0][1]) if rows[0][1] != '-' else 0.0
    print(
        f'\nbbox mAP {bbox_map:.3f} (target >= {TARGET_MAP}): '
        f'{"met" if bbox_map >= TARGET_MAP else "NOT met"}; '
        f'time {minutes:.1f} min including data and evaluation (target '
        f'< {TARGET_MINUTES} min on 2 cores): '
        f'{"met" if minutes < TARGET_MINUTES else "NOT met"}'
    )
    with prints_to_log(runner.logger):
        pictures = draw_pictures(
            runner, cfg.work_dir, args.score_thr, args.num_images
        )
    print(
        f'\n[demo] predictions on {args.num_images} val images (ground '
        f'truth | score > {args.score_thr:g}): {pictures[0]}'
    )
    print(f'[demo] losses and mAP over iterations: {pictures[1]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
