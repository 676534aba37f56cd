"""Check a run's inputs before any model or dataset is built.

Each check raises :class:`UserInputError` with one line that says what is
wrong and what to do, instead of a traceback from deep inside mmengine.
Detection configs (mmdet, COCO annotation files) and pretraining configs
(mmpretrain, ``meta/*.txt`` lists or CIFAR pickles) alike.

In order: the model's types (the config alone); every checkpoint a
training reads (each ``init_cfg`` of type ``Pretrained`` in the model,
``load_from``, the checkpoint ``--resume`` continues from): it exists and
is a whole torch file, and a missing one says how to make it; the data
roots and annotation files; then every image the annotation files name
exists and is not empty, and a sample of them decodes (``decode``: how
many per dataloader, or ``'all'``). The checks that read files (checkpoints, images) run on
rank 0 only, and say how long they took.
"""

import json
import os
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from mmengine.config import Config
from mmengine.registry import DefaultScope

from ..reproduce.tables import detection_row
from ..utils.checkpoint_io import probe_checkpoint
from ..utils.errors import UserInputError
from .train_guards import resume_checkpoint

#: what to do about missing data, by the config's default scope
DATA_HINTS = {
    'mmdet': 'run `python tools/dataset_converters/make_toy_coco.py` for '
    'the toy set, prepare COCO as mmdet documents, or set --cfg-options',
    'mmpretrain': 'run `python tools/dataset_converters/make_toy_cls.py` '
    'for the toy set, prepare ImageNet / CIFAR-100 as mmpretrain documents, '
    'or set --cfg-options',
}
#: keys whose dicts the registries build as the model's components
COMPONENT_KEYS = ('backbone', 'neck', 'head', 'data_preprocessor')


def scope_of(cfg: Config) -> str:
    """The config's default scope (mmdet when it states none)."""
    return cfg.get('default_scope') or 'mmdet'


def dataset_cfgs(cfg: Config, splits) -> Iterator[Tuple[str, dict]]:
    """(loader name, innermost dataset cfg) of every dataloader of
    ``splits`` (``'train'``, ``'val'``, ``'test'``) the config defines."""
    for split in splits:
        name = f'{split}_dataloader'
        loader = cfg.get(name)
        if loader and loader.get('dataset'):
            dataset = loader['dataset']
            while 'dataset' in dataset:  # wrappers: RepeatDataset, ...
                dataset = dataset['dataset']
            yield name, dataset


def read_coco_file(path: str, what: str) -> dict:
    """The parsed COCO file ``path`` (parsed once per process: COCO's
    train file takes seconds)."""
    if path not in _PARSED:
        try:
            with open(path) as f:
                _PARSED[path] = json.load(f)
        except (OSError, ValueError) as err:
            raise UserInputError(
                f'{what}: {path} is not JSON ({err})'
            ) from None
    return _PARSED[path]


_PARSED: Dict[str, dict] = {}


def check_coco_file(path: str, what: str) -> None:
    """Raise unless ``path`` is a readable COCO instance annotation file."""
    if not os.path.isfile(path):
        raise UserInputError(f'{what}: annotation file {path} does not exist')
    data = read_coco_file(path, what)
    missing = [
        k
        for k in ('images', 'annotations', 'categories')
        if not isinstance(data, dict) or k not in data
    ]
    if missing:
        raise UserInputError(
            f'{what}: {path} is not a COCO annotation file '
            f'(no {", ".join(missing)})'
        )


def check_datasets(
    cfg: Config, splits=('train', 'val', 'test'), parse: bool = True
) -> None:
    """Every used dataloader's data root and annotation file exist (a COCO
    ``.json`` must parse as one, when ``parse``)."""
    hint = DATA_HINTS.get(scope_of(cfg), DATA_HINTS['mmdet'])
    for name, dataset in dataset_cfgs(cfg, splits):
        root = dataset.get('data_root') or ''
        if root and not os.path.isdir(root):
            raise UserInputError(
                f'{name}: data_root {root!r} does not exist ({hint})'
            )
        ann = dataset.get('ann_file')
        if not ann:
            continue
        path = os.path.join(dataset.get('data_root') or '', ann)
        if path.endswith('.json') and parse:
            check_coco_file(path, name)
        elif not os.path.isfile(path):
            raise UserInputError(
                f'{name}: annotation file {path} does not exist ({hint})'
            )


def _image_prefix(dataset: dict) -> str:
    prefix = dataset.get('data_prefix') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('img') or prefix.get('img_path') or ''
    return os.path.join(dataset.get('data_root') or '', prefix)


def _annotation(dataset: dict):
    """(annotation file, image prefix) of a dataset cfg, mmpretrain's
    ``split=`` form included; None when it names no image files."""
    ann = dataset.get('ann_file')
    root = dataset.get('data_root') or ''
    split = dataset.get('split')
    if not ann and split and str(dataset.get('type', '')).endswith('ImageNet'):
        ann = os.path.join('meta', f'{split}.txt')
        if not dataset.get('data_prefix'):
            dataset = dict(dataset, data_prefix=split)
    if not ann:
        return None
    path = os.path.join(root, ann)
    return (path, _image_prefix(dataset)) if os.path.isfile(path) else None


def image_files(dataset: dict) -> List[str]:
    """Every image file a dataset cfg's annotation file names: a COCO
    JSON's ``images[].file_name`` or the first column of an mmpretrain
    list (``meta/*.txt``), under the data root and image prefix."""
    found = _annotation(dataset)
    if found is None:
        return []
    path, prefix = found
    if path.endswith('.json'):
        images = read_coco_file(path, path).get('images', [])
        return [os.path.join(prefix, im['file_name']) for im in images]
    with open(path) as f:
        return [
            os.path.join(prefix, line.split()[0]) for line in f if line.strip()
        ]


def _size(path: str) -> Optional[int]:
    """The size of the file ``path`` (None: not a file)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size if os.path.isfile(path) else None


#: images decoded per dataloader by default (``--decode-images``)
DECODE_SAMPLE = 64


def decode_sample(files: Sequence[str], decode: Union[int, str]) -> List[str]:
    """The images to decode: ``'all'``, or ``decode`` of them spread evenly
    over the list (the first and the last included; none for 0)."""
    if decode == 'all' or len(files) <= decode:
        return list(files)
    if decode <= 1:
        return list(files[:decode])
    step = (len(files) - 1) / (decode - 1)
    return [files[round(i * step)] for i in range(decode)]


def undecodable(path: str) -> Optional[str]:
    """Why mmcv's image loader cannot decode ``path`` (None: it can)."""
    import cv2
    import mmcv

    try:
        with open(path, 'rb') as f:
            image = mmcv.imfrombytes(f.read())
    except (OSError, ValueError, cv2.error) as err:
        return f'{type(err).__name__}: {" ".join(str(err).split())[:80]}'
    return None if image is not None else 'not an image file OpenCV reads'


def check_images(cfg: Config, splits, decode: Union[int, str] = DECODE_SAMPLE):
    """Every image the used annotation files name exists and is not
    empty; ``decode`` of them per dataloader (or ``'all'``) decode.

    Returns:
        tuple: (images found, images decoded).
    """
    found = decoded = 0
    for name, dataset in dataset_cfgs(cfg, splits):
        files = image_files(dataset)
        sizes = [_size(f) for f in files]
        missing = [f for f, size in zip(files, sizes) if size is None]
        if missing:
            raise UserInputError(
                f'{name}: {len(missing):,} of the {len(files):,} images its '
                f'annotation file names are missing, e.g. {missing[0]}'
            )
        empty = [f for f, size in zip(files, sizes) if size == 0]
        if empty:
            raise UserInputError(
                f'{name}: {len(empty):,} of the {len(files):,} images its '
                f'annotation file names are empty (0 bytes), e.g. {empty[0]}'
            )
        sample = decode_sample(files, decode)
        for path in sample:
            reason = undecodable(path)
            if reason is not None:
                hint = 'replace or remove it'
                if decode != 'all':
                    hint += ' (--decode-images all checks every image)'
                raise UserInputError(
                    f'{name}: image {path} cannot be decoded ({reason}): '
                    f'{hint}'
                )
        found += len(files)
        decoded += len(sample)
    return found, decoded


def check_evaluators(cfg: Config, splits) -> None:
    """The evaluators' annotation files (COCO's ``ann_file``) exist."""
    for split in splits:
        name = f'{split}_evaluator'
        evaluators = cfg.get(name) or []
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        for evaluator in evaluators:
            ann = evaluator.get('ann_file') if evaluator else None
            if ann and '://' not in ann and not os.path.isfile(ann):
                raise UserInputError(
                    f'{name}.ann_file {ann} does not exist (set '
                    f'--cfg-options {name}.ann_file=PATH)'
                )


def check_model_types(cfg: Config) -> None:
    """The model's ``type`` and its components' (backbones, necks, heads,
    data preprocessor, at any depth) are registered in the MODELS of the
    config's scope (scoped types such as ``mmdet.CPWCResNet`` resolve
    across registries)."""
    scope = scope_of(cfg)
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
    else:
        from mmdet.registry import MODELS

    def walk(node, where):
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, f'{where}[{i}]')
            return
        if not isinstance(node, dict):
            return
        kind = node.get('type')
        if isinstance(kind, str) and MODELS.get(kind) is None:
            raise UserInputError(
                f"{where}.type={kind!r} is not registered in {scope}'s "
                'MODELS (a typo, or a missing custom_imports?)'
            )
        for key, value in node.items():
            if key.endswith(COMPONENT_KEYS):
                walk(value, f'{where}.{key}')

    with DefaultScope.overwrite_default_scope(scope):
        walk(cfg.model, 'model')


# ------------------------------------------------------------ checkpoints

#: init_cfg types that read a checkpoint (mmengine's PretrainedInit)
PRETRAINED_TYPES = ('Pretrained', 'PretrainedInit')


def _type_name(kind) -> str:
    return str(getattr(kind, '__name__', kind)).split('.')[-1]


def pretrained_init_cfgs(model: dict) -> Iterator[Tuple[str, dict]]:
    """(config key, init_cfg) of every ``init_cfg`` of type ``Pretrained``
    at any depth of ``model`` (a dict or a list of them), keys as
    ``--cfg-options`` writes them: ``model.backbone.init_cfg``."""

    def walk(node, where):
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                yield from walk(item, f'{where}.{i}')
            return
        if not isinstance(node, dict):
            return
        init = node.get('init_cfg')
        inits = init if isinstance(init, (list, tuple)) else [init]
        for i, item in enumerate(inits):
            if (
                isinstance(item, dict)
                and _type_name(item.get('type')) in PRETRAINED_TYPES
                and isinstance(item.get('checkpoint'), str)
            ):
                index = f'.{i}' if isinstance(init, (list, tuple)) else ''
                yield f'{where}.init_cfg{index}', item
        for key, value in node.items():
            if key != 'init_cfg':
                yield from walk(value, f'{where}.{key}')

    yield from walk(model, 'model')


def training_checkpoints(cfg: Config) -> List[Tuple[str, str]]:
    """(what, path) of every local checkpoint a training reads, each path
    once: the model's ``Pretrained`` init_cfgs (read by ``init_weights``
    even when resuming), then ``load_from`` or the checkpoint the run
    resumes from. URLs (``torchvision://``, ``https://``) are left to
    mmengine."""
    found = [
        (f'{key}.checkpoint', init['checkpoint'])
        for key, init in pretrained_init_cfgs(cfg.model)
    ]
    resume = resume_checkpoint(cfg)
    if resume is not None:
        found.append(('the checkpoint to resume from,', resume))
    elif cfg.get('load_from'):
        found.append(('load_from', cfg.load_from))
    seen, unique = set(), []
    for what, path in found:
        if '://' not in path and path not in seen:
            seen.add(path)
            unique.append((what, path))
    return unique


def _shown(path: str) -> str:
    """``path`` relative to the current directory when it is below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith('..') else relative


def _conversion_type(backbone: dict) -> Optional[str]:
    """The conversion a backbone config builds: ``'CPWC'``, ``'CoC'``,
    ``'stnd'``, ``'orth'``, or None (plain)."""
    kind = _type_name(backbone.get('type'))
    conversion = backbone.get('conversion')
    if isinstance(conversion, dict) and conversion.get('type'):
        return str(conversion['type'])
    if kind.startswith('CPWC'):
        return 'CPWC'
    if kind.startswith('CoC'):
        return 'CoC'
    return None


def plain_weights_route(cfg: Config, path: str) -> Optional[str]:
    """How to make ``path`` from a plain network's ImageNet weights, for
    the ResNet and HRNet backbones (None where no tool does it: orth,
    other backbones).

    A ResNet's plain weights are inflated into the method's layers
    (``inflate_checkpoint.py``, which reads torchvision's and mmpretrain's
    files) and, when the detector reads the file under another prefix than
    ``backbone.`` (a C4 detector's shared head, layer4), bridged into the
    detector's keys (``pretrain_to_detector.py``). An HRNet's are an
    mmpretrain classifier checkpoint, whose ``backbone.*`` keys load as
    they are; converted layers inflate from a plain conv's weight on load.
    """
    backbone = cfg.model.get('backbone') or {}
    kind = _type_name(backbone.get('type'))
    method = _conversion_type(backbone)
    if method == 'orth':
        return None
    prefixes = {
        init.get('prefix') or ''
        for _, init in pretrained_init_cfgs(cfg.model)
        if init['checkpoint'] == path
    }
    if kind.endswith('ResNet'):
        return _plain_resnet_route(cfg, backbone, method, path, prefixes)
    if kind.endswith('HRNet'):
        stage2 = (backbone.get('extra') or {}).get('stage2') or {}
        width = (stage2.get('num_channels') or ('',))[0]
        inflated = (
            '; CPWC / CoC layers start from its convs'
            if method in ('CPWC', 'CoC')
            else ''
        )
        return (
            f"mmpretrain's ImageNet HRNet-W{width} checkpoint as it is "
            f'(backbone.* keys{inflated}, docs/backbones.md): set the key '
            'to it'
        )
    return None


def _plain_resnet_route(cfg, backbone, method, path, prefixes) -> str:
    """:func:`plain_weights_route` for a ResNet backbone: the commands
    (``inflate_checkpoint.py`` writes ``backbone.*`` keys, or bare ones
    with ``--prefix ''`` for an ``init_cfg`` without a prefix; a C4
    detector's shared head reads ``roi_head.shared_head.*``, which only
    the bridge writes)."""
    depth = backbone.get('depth', 50)
    name = f'ResNet-{depth}'
    bridged = bool(prefixes - {'backbone.', ''})
    bare = prefixes == {''}
    if method not in ('CPWC', 'CoC'):  # plain or stnd: the plain keys
        if not bridged:
            source = "torchvision's" if bare else "mmpretrain's"
            return (
                f'{source} ImageNet {name} checkpoint as it is: set the key '
                'to it'
            )
        return (
            f"mmpretrain's ImageNet {name} checkpoint: python tools/"
            f'model_converters/pretrain_to_detector.py R{depth}.pth {path} '
            f'--config {_shown(cfg.filename)}'
        )
    to = method.lower()
    options = '' if depth == 50 else f' --depth {depth}'
    if backbone.get('style') == 'caffe':
        options += ' --style caffe'
    if method == 'CoC' and (backbone.get('conversion') or {}).get(
        'orth', True
    ):
        options += ' --coc-orth on'
    if bare:
        options += " --prefix ''"
    inflated = f'r{depth}-{to}.pth' if bridged else path
    steps = [
        'python tools/model_converters/inflate_checkpoint.py '
        f'R{depth}.pth {inflated} --to {to}{options}'
    ]
    if bridged:
        steps.append(
            'python tools/model_converters/pretrain_to_detector.py '
            f'{inflated} {path} --config {_shown(cfg.filename)}'
        )
    return (
        f"plain ImageNet {name} weights (torchvision's or mmpretrain's), "
        f'inflated: {" && ".join(steps)}'
    )


def missing_pretrained(cfg: Config, key: str, path: str) -> str:
    """The one line for a missing ``init_cfg`` checkpoint: the key, the
    file, and the two ways to make it (the table's pretrain and bridge
    stages, or a plain network's ImageNet weights)."""
    found = detection_row(cfg.filename)
    config = _shown(cfg.filename)
    bare = all(
        not init.get('prefix')
        for _, init in pretrained_init_cfgs(cfg.model)
        if init['checkpoint'] == path
    )
    ways = []
    if found is not None:
        table, row = found
        ways.append(
            f'the pretrain + bridge stages of {table.name} (ImageNet '
            f'pretraining of {row.pretrain}, days on 8 GPUs, then this '
            'training): python tools/reproduce.py '
            f'{table.name} --rows {row.key}'
        )
    elif not bare:  # the bridge writes prefixed keys
        ways.append(
            "pretraining with tools/pretrain.py (the config's header "
            'names the pretraining config) and the bridge: python '
            'tools/model_converters/pretrain_to_detector.py CKPT '
            f'{path} --config {config}'
        )
    plain = plain_weights_route(cfg, path)
    if plain is not None:
        ways.append(plain)
    if not ways:
        ways.append("the pretraining its config's header names")
    return (
        f'{key}: {path} does not exist (the ImageNet-pretrained weights '
        f'{config} starts from); make it with {"; or from ".join(ways)}; '
        f'or pass --cfg-options {key}=PATH (docs/reproduce.md)'
    )


def check_checkpoints(cfg: Config) -> int:
    """Every checkpoint a training reads exists and is a whole torch file
    (:func:`training_checkpoints`; a missing ``init_cfg`` checkpoint says
    how to make it); how many."""
    checkpoints = training_checkpoints(cfg)
    for what, path in checkpoints:
        if not os.path.exists(path) and what.startswith('model.'):
            raise UserInputError(missing_pretrained(cfg, what, path))
        probe_checkpoint(path, what)
    return len(checkpoints)


# ------------------------------------------------------------------- all


def is_rank_zero() -> bool:
    """Whether this process is rank 0 (or not distributed), from the
    launcher's environment (torchrun's RANK, slurm's SLURM_PROCID): the
    checks run before any process group exists."""
    rank = os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0'))
    return rank == '0'


def preflight(
    cfg: Config,
    splits=('train', 'val', 'test'),
    decode: Union[int, str] = DECODE_SAMPLE,
) -> None:
    """All checks, in order; raises :class:`UserInputError` on the first
    problem. A training (``'train'`` in ``splits``) checks the
    checkpoints it reads first. Rank 0 alone reads the checkpoints and
    images, and says what it checked and how long that took.

    Args:
        cfg (Config): the run's config.
        splits (tuple): the dataloaders the run uses.
        decode (int | str): images decoded per dataloader (spread over
            it), or ``'all'``.
    """
    check_model_types(cfg)
    rank_zero = is_rank_zero()
    if rank_zero and 'train' in splits:
        start = time.perf_counter()
        count = check_checkpoints(cfg)
        if count:
            print(
                f'preflight: the {count} checkpoint'
                f'{"s" if count > 1 else ""} the training reads '
                f'{"are" if count > 1 else "is"} whole torch files '
                f'({time.perf_counter() - start:.1f} s)',
                flush=True,
            )
    check_datasets(cfg, splits, parse=rank_zero)
    check_evaluators(cfg, [s for s in splits if s != 'train'])
    if not rank_zero:
        return
    start = time.perf_counter()
    found, decoded = check_images(cfg, splits, decode)
    if found:
        print(
            f'preflight: the {found:,} images the annotation files name '
            f'exist ({decoded:,} decoded; '
            f'{time.perf_counter() - start:.1f} s)',
            flush=True,
        )
