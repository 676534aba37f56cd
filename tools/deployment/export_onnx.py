"""Export the deploy form of a detector's backbone, or backbone + neck, to
ONNX.

Usage::

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx
        [--input-size H W] [--part backbone|extract_feat] [--opset N]
        [--verify] [--cfg-options k=v ...]

Builds CONFIG's detector, loads CHECKPOINT (a train-form checkpoint, or one
already re-parameterised by tools/model_converters/reparameterize_model.py),
switches it to its deploy form (every CoC / stnd / orth conv becomes the
plain conv it computes; CPWC layers export as their plain ONNX convs, the
fused CPU kernel being skipped while tracing) and exports, with PyTorch's
TorchScript-based exporter, the graph of ``--part``:

* ``backbone``: ``(1, 3, H, W) -> multi-level features``,
* ``extract_feat`` (default): backbone and neck, as the detector runs them.

The input is the data preprocessor's output (normalised, padded image), at
the static size ``--input-size`` (default 800 1344, mmdet's test scale
padded to 32). ``--verify`` runs the file with onnxruntime on the CPU and
prints its largest difference to PyTorch. What cannot be exported (mmcv's
deformable convs, which have only custom mmcv:: ONNX ops; anything the
exporter fails on) is a one-line error, exit 2.
"""

import inspect
import os
import sys
import tempfile
import warnings

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.config import DictAction
from mmengine.registry import init_default_scope

import cpwc_mmdet  # noqa: F401  (registers modules, safe checkpoint loading)
from cpwc_mmdet.cli import (
    ArgumentParser,
    UserInputError,
    build_user_error,
    check_output,
    load_config,
    one_line_errors,
)
from cpwc_mmdet.conversion import DEFORMABLE_CONVS, switch_model_to_deploy
from cpwc_mmdet.utils.census import FeatureExtractor
from cpwc_mmdet.utils.checkpoint_fit import describe_mismatch
from cpwc_mmdet.utils.checkpoint_io import read_state_dict

try:  # the TorchScript exporter writes through onnx
    import onnx
except ImportError:  # pragma: no cover
    onnx = None
try:
    import onnxruntime
except ImportError:  # pragma: no cover
    onnxruntime = None

TOOL = 'export_onnx.py'
PARTS = ('backbone', 'extract_feat')
#: --verify's default bound on max |onnxruntime - PyTorch| / max |PyTorch|:
#: float32 rounding of a network's worth of convs stays far below it
TOLERANCE = 1e-4
#: ONNX's own operator domains; anything else needs a custom-op library
STANDARD_DOMAINS = ('', 'ai.onnx')
#: torch >= 2.5 can also export through torch.export (``dynamo=True``, the
#: default from 2.9, which needs onnxscript); the TorchScript exporter is
#: used on every torch: it needs only onnx, and CPWConv2d sees
#: ``torch.jit.is_tracing()`` there and traces its PyTorch convs
TORCHSCRIPT_EXPORTER = (
    {'dynamo': False}
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters
    else {}
)


def parse_args(argv=None):
    parser = ArgumentParser(
        description="Export the deploy form of a detector's backbone (+ neck)"
        ' to ONNX'
    )
    parser.add_argument('config', help='the detector config')
    parser.add_argument('checkpoint', help='train-form or deploy checkpoint')
    parser.add_argument('out', help='the .onnx file to write')
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        default=[800, 1344],
        metavar=('H', 'W'),
        help='static input height and width (default 800 1344)',
    )
    parser.add_argument('--part', choices=PARTS, default='extract_feat')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument(
        '--verify',
        action='store_true',
        help='run the file with onnxruntime and compare with PyTorch (eval '
        'mode); exit 2 when they differ by more than --tolerance',
    )
    parser.add_argument(
        '--tolerance',
        type=float,
        default=TOLERANCE,
        help='--verify: largest max |difference| / max |output| accepted '
        f'(default {TOLERANCE:g})',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config items, key=value',
    )
    return parser.parse_args(argv)


def build_deploy_model(cfg, state: dict, checkpoint: str) -> nn.Module:
    """CONFIG's detector in eval mode and deploy form, with ``state``
    loaded: into the train form and then re-parameterised, or, for an
    already re-parameterised checkpoint, into the deploy form."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    try:
        model = MODELS.build(cfg.model)
    except (KeyError, ValueError, TypeError) as err:
        raise build_user_error(err) from err
    train_mismatch = describe_mismatch(model, state)
    if train_mismatch is None:
        model.load_state_dict(state, strict=True)
        switch_model_to_deploy(model)
    else:
        switch_model_to_deploy(model)
        if describe_mismatch(model, state) is not None:
            raise UserInputError(
                f'{checkpoint} does not fit the config, in its train or its '
                f'deploy form: {train_mismatch}'
            )
        model.load_state_dict(state, strict=True)
    return model.eval()


def select_part(model: nn.Module, part: str) -> nn.Module:
    """The module whose forward is ``part`` of the detector."""
    if part == 'backbone':
        if not isinstance(getattr(model, 'backbone', None), nn.Module):
            raise UserInputError(f'{type(model).__name__} has no backbone')
        return model.backbone
    if not hasattr(model, 'extract_feat'):
        raise UserInputError(f'{type(model).__name__} has no extract_feat')
    return FeatureExtractor(model)


def check_exportable(module: nn.Module) -> None:
    """Refuse, before tracing, modules that have no standard ONNX form."""
    names = [
        name
        for name, m in module.named_modules()
        if isinstance(m, DEFORMABLE_CONVS)
    ]
    if names:
        more = f' (+{len(names) - 3} more)' if len(names) > 3 else ''
        raise UserInputError(
            f'mmcv deformable convs ({", ".join(names[:3])}{more}) export '
            'only as custom mmcv:: ops, which onnxruntime runs only with '
            "mmdeploy's custom-op library; export with mmdeploy instead"
        )


def first_line(err: Exception, limit: int = 300) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else ''
    return f'{type(err).__name__}: {text[:limit]}'


def export(module: nn.Module, x: torch.Tensor, out: str, opset: int) -> list:
    """Trace ``module`` on ``x`` into ``out``; return the output names.

    Raises:
        UserInputError: the exporter failed, or the graph needs ops outside
            ONNX's own domains (``out`` is then not written).
    """
    if onnx is None:
        raise UserInputError(
            'the ONNX exporter needs the onnx package: '
            'pip install onnx onnxruntime'
        )
    with torch.no_grad():
        outputs = module(x)
    num_outputs = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    names = [f'feat{i}' for i in range(num_outputs)]
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{os.path.basename(out)}.', suffix='.part'
    )
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # the TorchScript exporter announces its deprecation; tracer
            # warnings are about other input shapes (this export is static)
            warnings.simplefilter('ignore', DeprecationWarning)
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            torch.onnx.export(
                module,
                (x,),
                tmp,
                **TORCHSCRIPT_EXPORTER,
                opset_version=opset,
                input_names=['input'],
                output_names=names,
                do_constant_folding=True,
            )
        graph = onnx.load(tmp)
        custom = sorted(
            {
                f'{node.domain}::{node.op_type}'
                for node in graph.graph.node
                if node.domain not in STANDARD_DOMAINS
            }
        )
        if custom:
            raise UserInputError(
                f'the graph needs ops outside ONNX ({", ".join(custom)}), '
                'which onnxruntime runs only with their custom-op library '
                "(e.g. mmdeploy's for mmcv ops)"
            )
        os.replace(tmp, out)
    except UserInputError:
        raise
    except Exception as err:  # the exporter's many error types
        raise UserInputError(f'cannot export: {first_line(err)}') from err
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)
    return names


def verify(module: nn.Module, x: torch.Tensor, path: str) -> float:
    """Largest ``|onnxruntime - PyTorch|`` over the outputs, relative to the
    largest ``|PyTorch|`` output value, with the module in eval mode (as it
    was exported: BN with its running statistics)."""
    if onnxruntime is None:
        raise UserInputError(
            '--verify needs onnxruntime: pip install onnxruntime'
        )
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider']
    )
    got = session.run(None, {'input': x.numpy()})
    module.eval()
    with torch.no_grad():
        want = module(x)
    want = want if isinstance(want, (tuple, list)) else [want]
    diff = max(
        float((torch.from_numpy(g) - w).abs().max()) for g, w in zip(got, want)
    )
    scale = max(float(w.abs().max()) for w in want)
    return diff / max(scale, 1e-12)


def main(argv=None):
    args = parse_args(argv)
    height, width = args.input_size
    with one_line_errors(TOOL):
        if height < 1 or width < 1:
            raise UserInputError(
                f'--input-size must be positive, got {height} {width}'
            )
        if not args.out.endswith('.onnx'):
            raise UserInputError(f'OUT must end in .onnx, got {args.out}')
        check_output(
            args.out, 'OUT', checkpoint=args.checkpoint, config=args.config
        )
        cfg = load_config(args.config, args.cfg_options)
        _, state = read_state_dict(args.checkpoint)
        model = build_deploy_model(cfg, state, args.checkpoint)
        module = select_part(model, args.part)
        check_exportable(module)
        x = torch.rand(1, 3, height, width)
        names = export(module, x, args.out, args.opset)
        print(
            f'exported the {args.part} of {args.config} (deploy form, input '
            f'1x3x{height}x{width}, opset {args.opset}, {len(names)} '
            f'outputs) to {args.out}'
        )
        if args.verify:
            error = verify(module, x, args.out)
            print(
                f'onnxruntime vs PyTorch: max |difference| / max |output| '
                f'= {error:.2e} (tolerance {args.tolerance:g})'
            )
            if not error <= args.tolerance:
                raise UserInputError(
                    f'--verify: {args.out} differs from PyTorch by '
                    f'{error:.2e} (relative), above --tolerance '
                    f'{args.tolerance:g}'
                )
    return 0


if __name__ == '__main__':
    sys.exit(main())
