"""Evaluate a detector on COCO: ``python tools/test.py CONFIG CHECKPOINT
[--work-dir DIR] [--out results.pkl] [--show] [--show-dir DIR]
[--wait-time S] [--tta] [--deploy] [--cfg-options k=v ...]
[--launcher pytorch]``.

mmdet 3.3's tools/test.py command line, plus ``--deploy``. The metric is the
config's ``test_evaluator`` (mmdet's CocoMetric, i.e. pycocotools).
``--deploy`` re-parameterises CoC / stnd / orth convs after the checkpoint is
loaded, so a train-form checkpoint is evaluated in deploy form. The
checkpoint must fit the model exactly (one line names the keys that do not).
"""

import sys

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.cli import (
    ArgumentParser,
    UserInputError,
    add_run_arguments,
    build_runner,
    check_output,
    export_local_rank,
    load_exactly,
    load_run_config,
    one_line_errors,
    report_metrics,
)
from cpwc_mmdet.cli.preflight import preflight
from cpwc_mmdet.cli.tool_options import apply_tta, enable_visualization
from cpwc_mmdet.conversion import switch_model_to_deploy
from cpwc_mmdet.utils.checkpoint_io import read_state_dict


def parse_args(argv=None):
    parser = ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument(
        '--show', action='store_true', help='show the predictions in a window'
    )
    parser.add_argument(
        '--show-dir',
        help='save images with the predictions drawn here '
        '(a relative path is under work_dir/<timestamp>/)',
    )
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='seconds each image is shown with --show',
    )
    parser.add_argument(
        '--tta',
        action='store_true',
        help="test-time augmentation (the config's "
        'tta_model and tta_pipeline)',
    )
    parser.add_argument(
        '--deploy',
        action='store_true',
        help='re-parameterise the model after loading',
    )
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def main(argv=None):
    args = parse_args(argv)
    with one_line_errors('test.py'):
        cfg = load_run_config(args)
        _, state = read_state_dict(args.checkpoint)
        cfg.load_from = None
        cfg.resume = False
        enable_visualization(cfg, args.show, args.show_dir, args.wait_time)
        if args.tta:
            apply_tta(cfg)
        if args.out is not None:
            if not args.out.endswith(('.pkl', '.pickle')):
                raise UserInputError('--out must end with .pkl or .pickle')
            check_output(
                args.out,
                '--out',
                checkpoint=args.checkpoint,
                config=args.config,
            )
            cfg.test_evaluator = [
                cfg.test_evaluator,
                dict(type='DumpDetResults', out_file_path=args.out),
            ]
        preflight(cfg, splits=('test',), decode=args.decode_images)
        runner = build_runner(cfg)
        # the detector itself: runner.model may be wrapped in DDP (dist_test)
        # or in the TTA model, whose state dict keys have a 'module.' prefix
        model = load_exactly(runner, state, args.checkpoint, args.config)
    if args.deploy:
        count = switch_model_to_deploy(model)
        runner.logger.info(f're-parameterised {count} convs (deploy form)')
    report_metrics(runner.test(), cfg.work_dir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
