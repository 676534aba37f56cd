"""The main job (``make demo``): train and COCO-evaluate a toy detector.

1. Makes the toy COCO set in data/toy_coco/ if it is missing.
2. Trains configs/toy/faster_rcnn_r50_cpwc_c4_toy.py (Faster R-CNN C4 with a
   CPWC ResNet-50 backbone and CPWC shared head) from scratch on the CPU,
   showing mmengine's progress log.
3. Evaluates on the toy val split with mmdet's CocoMetric (pycocotools) and
   prints the COCO table, with the targets: bbox mAP >= 0.5, under 15 minutes.

Usage::

    python tools/demo.py [--config CFG] [--work-dir DIR] [--max-iters N]
"""
import argparse
import os
import os.path as osp
import sys
import time

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.utils.census import format_table
from cpwc_mmdet.utils.cli import (build_runner, load_config, one_line_errors,
                                  set_work_dir)
from cpwc_mmdet.utils.preflight import preflight

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
from make_toy_coco import make_toy_coco  # noqa: E402

DEFAULT_CONFIG = 'configs/toy/faster_rcnn_r50_cpwc_c4_toy.py'
COCO_KEYS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
TARGET_MAP, TARGET_MINUTES = 0.5, 15


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train and evaluate a toy '
                                     'detector on the CPU')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--max-iters', type=int,
                        help='override the schedule length')
    parser.add_argument('--data-root', default='data/toy_coco')
    return parser.parse_args(argv)


def coco_rows(message_hub, metric_prefixes):
    """(task, AP, AP50, ...) rows from the runtime scalars of the last val."""
    rows = []
    for task in metric_prefixes:
        values = []
        for key in COCO_KEYS:
            name = f'val/coco/{task}_{key}'
            scalars = message_hub.log_scalars
            values.append(f'{scalars[name].current():.3f}'
                          if name in scalars else '-')
        rows.append([task, *values])
    return rows


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    start = time.time()
    if not osp.isfile(osp.join(args.data_root, 'annotations',
                               'instances_val.json')):
        print(f'[demo] making the toy set in {args.data_root}/')
        make_toy_coco(args.data_root)
    with one_line_errors('demo.py'):
        cfg = load_config(args.config)
        set_work_dir(cfg, args.config, args.work_dir)
        if args.max_iters:
            scale = args.max_iters / cfg.train_cfg.max_iters
            cfg.train_cfg.max_iters = args.max_iters
            cfg.train_cfg.val_interval = args.max_iters
            for scheduler in cfg.param_scheduler:  # same shape, shorter
                scheduler.begin = round(scheduler.begin * scale)
                scheduler.end = max(scheduler.begin + 1,
                                    round(scheduler.end * scale))
        preflight(cfg, splits=('train', 'val'))
        runner = build_runner(cfg)
    print(f'[demo] training {args.config} for {cfg.train_cfg.max_iters} '
          f'iterations on the CPU (work dir {cfg.work_dir})')
    runner.train()  # validates with CocoMetric after the last iteration
    minutes = (time.time() - start) / 60
    metrics = cfg.val_evaluator.metric
    tasks = [metrics] if isinstance(metrics, str) else list(metrics)
    rows = coco_rows(runner.message_hub, tasks)
    print('\nCOCO evaluation on the toy val split (pycocotools):')
    print(format_table(['task', 'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'],
                       rows))
    bbox_map = float(rows[0][1]) if rows[0][1] != '-' else 0.0
    print(f'\nbbox mAP {bbox_map:.3f} (target >= {TARGET_MAP}): '
          f'{"met" if bbox_map >= TARGET_MAP else "NOT met"}; '
          f'time {minutes:.1f} min including data and evaluation (target '
          f'< {TARGET_MINUTES} min on 2 cores): '
          f'{"met" if minutes < TARGET_MINUTES else "NOT met"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
