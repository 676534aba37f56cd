"""The paper tables, one registry: every row's configs, the papers'
figures (metrics, Params, FLOPs) and why ours may differ.

The census (``census.py``), ``tools/analysis_tools/get_flops.py --paper``,
``tools/reproduce.py --list`` and the metafiles' results
(``metafiles.py``) all read this module. A detection row is pretrained with
an mmpretrain config (ImageNet), bridged into its detector and trained on
COCO; a classification row is pretrained and evaluated (top-1). Each row
names its full-data configs and the toy counterparts that stand in for them
on the embedded toy sets. The figures come from the specs (CPWC Tables 1-4,
the CoC poster); a figure the paper does not give is ``None`` or empty.
"""

import os
from typing import Dict, NamedTuple, Optional, Tuple


class Row(NamedTuple):
    """One row of a table.

    Attributes:
        key (str): short name used on the command line (``--pretrained
            KEY=PATH``) and for the row's work directory.
        name (str): the row as the paper names it.
        pretrain (str): the mmpretrain config that pretrains it (full data).
        detect (str | None): its detection config (full data); None for a
            classification row.
        toy_pretrain (str | None): the toy pretraining config
            (configs/toy); None for a classification row, which trains its
            own model on the toy set.
        toy_detect (str | None): the toy detection config.
        paper (dict): metric name -> the paper's figure (None: not given).
        paper_params (str): Params as the paper prints them ('' if not).
        paper_flops (str): FLOPs as the paper prints them ('' if not).
        note (str): where our count differs from the paper's, why.
        shared (str): the table whose run gives this row's figures ('' for
            a row of its own): the paper prints the row in both tables,
            and reproducing this table reads that table's results rather
            than training the same config again.
    """

    key: str
    name: str
    pretrain: str
    detect: Optional[str]
    toy_pretrain: Optional[str]
    toy_detect: Optional[str]
    paper: Dict[str, Optional[float]]
    paper_params: str = ''
    paper_flops: str = ''
    note: str = ''
    shared: str = ''


class Table(NamedTuple):
    """A reproducible table.

    Attributes:
        name (str): the command-line name, e.g. ``'cpwc-table3'``.
        title (str): the table's title.
        kind (str): ``'detection'`` or ``'classification'``.
        metrics (tuple): (metric name, key in mmengine's metrics json,
            scale to the paper's percent) for each reported metric.
        datasets (tuple): the data roots the full-data rows need
            (``'coco'``, ``'imagenet'``, ``'cifar'``).
        census_shape (tuple): input (H, W) of the Params / FLOPs census on
            full data; the toy rows use their toy image size.
        init_prefixes (tuple): the detector modules that load the bridged
            backbone (``'backbone'``, plus ``'roi_head.shared_head'`` for a
            C4 detector whose shared head is the backbone's layer4).
        rows (tuple): the rows.
        note (str): what ours is compared with.
    """

    name: str
    title: str
    kind: str
    metrics: Tuple[Tuple[str, str, float], ...]
    datasets: Tuple[str, ...]
    census_shape: Tuple[int, int]
    init_prefixes: Tuple[str, ...]
    rows: Tuple[Row, ...]
    note: str = ''


BBOX = (('AP', 'coco/bbox_mAP', 100.0), ('AP50', 'coco/bbox_mAP_50', 100.0))
SEGM = (('AP', 'coco/segm_mAP', 100.0), ('AP50', 'coco/segm_mAP_50', 100.0))
TOP1 = (('top-1', 'accuracy/top1', 1.0),)

CPWC = 'configs/cpwc/'
COC = 'configs/coc/'
TOY = 'configs/toy/'


def _cls_row(key, name, config, top1, params='', flops='', note=''):
    """A classification row of CPWC Tables 1, 2 and 4: on toy data it
    trains its own model on the toy set (a generated config, no toy
    counterpart)."""
    return Row(
        key,
        name,
        CPWC + config,
        None,
        None,
        None,
        {'top-1': top1},
        params,
        flops,
        note,
    )


CPWC_TABLE1 = Table(
    'cpwc-table1',
    'CPWC Table 1: CIFAR-100 classification',
    'classification',
    TOP1,
    ('cifar',),
    (32, 32),
    (),
    (
        _cls_row(
            'resnet164',
            'ResNet-164',
            'resnet164-preact_1xb128_cifar100.py',
            77.0,
            '1.74M',
            '0.25G',
            "He et al.'s model (1,703,258 with a 10-class fc: their "
            '1.7M); our CPWC rows add the closed form (147,024 / 241,776)'
            " to it and give the paper's 1.87M / 1.96M, while a 1.74M "
            'baseline would give 1.88M / 1.98M or more',
        ),
        _cls_row(
            'resnet200',
            'ResNet-200',
            'resnet200-preact_1xb128_cifar100.py',
            77.5,
            '2.11M',
            '0.30G',
            'the paper is 0.013M above our count (ResNet-164: 0.014M)',
        ),
        _cls_row(
            'resnet164-cpwc-no-stage2',
            'ResNet-164 CPWC w/o stage 2',
            'resnet164-preact-cpwc-no-stage2_1xb128_cifar100.py',
            77.7,
            '1.87M',
            '0.28G',
        ),
        _cls_row(
            'resnet164-cpwc',
            'ResNet-164 CPWC',
            'resnet164-preact-cpwc_1xb128_cifar100.py',
            78.4,
            '1.96M',
            '0.30G',
            'CPWC adds 62,779,392 MACs to the baseline (the closed form, '
            '9 max(C, Z) + 9 Z per output pixel of each 1x1 conv); the '
            "paper's 0.25G -> 0.30G allows at most +0.06G",
        ),
        _cls_row(
            'resnext29-8x64d',
            'ResNeXt-29 8x64d',
            'resnext29-8x64d_8xb16_cifar100.py',
            82.23,
            '34.4M',
            '5.4G',
            "the ResNeXt paper's CIFAR-10 figure: with a 10-class fc the "
            'count is 34,426,698 (34.4M); the CIFAR-100 fc adds 92,250',
        ),
        _cls_row(
            'resnext29-16x64d',
            'ResNeXt-29 16x64d',
            'resnext29-16x64d_8xb16_cifar100.py',
            82.69,
            '68.1M',
            '10.7G',
            "the ResNeXt paper's CIFAR-10 figure: with a 10-class fc the "
            'count is 68,155,210 (printed 68.1M there too)',
        ),
        _cls_row(
            'resnext29-8x64d-cpwc',
            'ResNeXt-29 8x64d CPWC',
            'resnext29-8x64d-cpwc_8xb16_cifar100.py',
            82.64,
            '34.8M',
            '5.5G',
        ),
        _cls_row(
            'mobilenet-v2',
            'MobileNetV2 1.0x',
            'mobilenet-v2_1xb128_cifar100.py',
            74.1,
            '2.4M',
            '0.30G',
        ),
        _cls_row(
            'mobilenet-v2-1.2x',
            'MobileNetV2 1.2x',
            'mobilenet-v2-1.2x_1xb128_cifar100.py',
            74.3,
            '3.2M',
            '0.41G',
            'the model of the ImageNet 1.2x row (which gives 4.7M / 465M)'
            " at the 1.0x row's CIFAR strides; a 1280-channel last conv "
            'gives 3,218,276 (3.2M) but 429,108,224 MACs (0.43G)',
        ),
        _cls_row(
            'mobilenet-v2-cpwc',
            'MobileNetV2 1.0x CPWC',
            'mobilenet-v2-cpwc_1xb128_cifar100.py',
            75.1,
            '2.6M',
            '0.35G',
        ),
    ),
    'CIFAR-100 test top-1 (%)',
)


def _shared_row(table: Table, key: str, shared: str) -> Row:
    """``table``'s row ``key`` as another table prints it: the same
    config and top-1, no Params or FLOPs figure (that table prints
    none), its figures from ``table``'s run."""
    row = next(r for r in table.rows if r.key == key)
    return row._replace(
        paper_params='', paper_flops='', note='', shared=shared
    )


CPWC_TABLE4 = Table(
    'cpwc-table4',
    'CPWC Table 4: CIFAR-100 classification without the 1x1 path',
    'classification',
    TOP1,
    ('cifar',),
    (32, 32),
    (),
    (
        _shared_row(CPWC_TABLE1, 'resnet164', 'cpwc-table1'),
        _shared_row(CPWC_TABLE1, 'resnet200', 'cpwc-table1'),
        _cls_row(
            'resnet164-cpwc-no-pwc-no-stage2',
            'ResNet-164 CPWC w/o PWC & stage 2',
            'resnet164-preact-cpwc-no-pwc-no-stage2_1xb128_cifar100.py',
            70.8,
        ),
        _cls_row(
            'resnet164-cpwc-no-pwc',
            'ResNet-164 CPWC w/o PWC',
            'resnet164-preact-cpwc-no-pwc_1xb128_cifar100.py',
            71.6,
        ),
        _shared_row(CPWC_TABLE1, 'resnet164-cpwc', 'cpwc-table1'),
    ),
    "CIFAR-100 test top-1 (%), the paper's five rows in its order; the "
    "paper gives no Params or FLOPs here, and the recipe is Table 1's "
    'ResNet-164. The baseline, ResNet-200 and ResNet-164 CPWC rows are '
    "Table 1's: their figures come from cpwc-table1's run",
)

CPWC_TABLE2 = Table(
    'cpwc-table2',
    'CPWC Table 2: ImageNet classification',
    'classification',
    TOP1,
    ('imagenet',),
    (224, 224),
    (),
    (
        _cls_row(
            'resnet50',
            'ResNet-50',
            'resnet50_8xb32-cpwc-recipe_in1k.py',
            76.0,
            '25.56M',
            '4.0G',
        ),
        _cls_row(
            'resnet101',
            'ResNet-101',
            'resnet101_8xb32-cpwc-recipe_in1k.py',
            77.2,
            '44.55M',
            '7.8G',
        ),
        _cls_row(
            'resnet50-cpwc-no-stage2',
            'ResNet-50 CPWC w/o stage 2',
            'resnet50-cpwc-no-stage2_8xb32_in1k.py',
            76.6,
            '25.84M',
            '4.2G',
        ),
        _cls_row(
            'resnet50-cpwc',
            'ResNet-50 CPWC',
            'resnet50-cpwc_8xb32_in1k.py',
            77.2,
            '26.05M',
            '4.3G',
        ),
        _cls_row(
            'mobilenet-v2',
            'MobileNetV2 1.0x',
            'mobilenet-v2_8xb32_in1k.py',
            72.0,
            '3.4M',
            '300M',
            "the MobileNetV2 paper's figure; its model (torchvision, "
            "mmpretrain) has 3,504,872, and the paper's CPWC row (3.7M) "
            "is that plus the closed form's 228,672",
        ),
        _cls_row(
            'mobilenet-v2-1.2x',
            'MobileNetV2 1.2x',
            'mobilenet-v2-1.2x_8xb32_in1k.py',
            72.4,
            '4.7M',
            '465M',
        ),
        _cls_row(
            'mobilenet-v2-cpwc',
            'MobileNetV2 1.0x CPWC',
            'mobilenet-v2-cpwc_8xb32_in1k.py',
            73.0,
            '3.7M',
            '387M',
        ),
    ),
    "ImageNet val top-1 (%); the paper's figure is its re-implementation "
    'column (ResNet-50 76.0, not the original 75.3)',
)

CPWC_TABLE3 = Table(
    'cpwc-table3',
    'CPWC Table 3: COCO Faster R-CNN R-50 C4',
    'detection',
    BBOX,
    ('coco', 'imagenet'),
    (600, 1000),
    ('backbone', 'roi_head.shared_head'),
    (
        Row(
            'baseline',
            'Faster R-CNN R-50 C4 (baseline)',
            CPWC + 'resnet50_8xb32-cpwc-recipe_in1k.py',
            'configs/faster_rcnn_r50_coco.py',
            TOY + 'resnet50_toy-cls.py',
            TOY + 'faster-rcnn_r50_c4_toy.py',
            {'AP': 30.3, 'AP50': 51.3},
        ),
        Row(
            'cpwc',
            'Faster R-CNN R-50-CPWC C4',
            CPWC + 'resnet50-cpwc_8xb32_in1k.py',
            'configs/faster_rcnn_r50_cpwc_coco.py',
            TOY + 'resnet50-cpwc_toy-cls.py',
            TOY + 'faster-rcnn_r50-cpwc_c4_toy.py',
            {'AP': 31.7, 'AP50': 52.4},
        ),
    ),
    'COCO val bbox AP / AP50 (%); both backbones pretrained with the same '
    'ImageNet recipe',
)


def _coc_rows(model, pretrain, detect, toy_pretrain, toy_detect, figures):
    """The baseline / stnd / orth / coc rows of one CoC poster table
    (named as the poster: ``RetinaNet-r50-stnd``): each config pattern has
    a ``{}`` where the variant's suffix goes."""
    rows = []
    for variant, (ap, ap50) in zip(('', 'stnd', 'orth', 'coc'), figures):
        suffix = f'-{variant}' if variant else ''
        rows.append(
            Row(
                variant or 'baseline',
                model + suffix,
                COC + pretrain.format(suffix),
                COC + detect.format(suffix),
                TOY + toy_pretrain.format(suffix),
                TOY + toy_detect.format(suffix),
                {'AP': ap, 'AP50': ap50},
            )
        )
    return tuple(rows)


COC_RETINANET = Table(
    'coc-retinanet',
    'CoC poster: COCO RetinaNet R-50-FPN',
    'detection',
    BBOX,
    ('coco', 'imagenet'),
    (800, 1333),
    ('backbone',),
    _coc_rows(
        'RetinaNet-r50',
        'resnet50{}_8xb32_in1k.py',
        'retinanet_r50{}_fpn_1x_coco.py',
        'resnet50{}_toy-cls.py',
        'retinanet_r50{}_fpn_toy.py',
        ((36.3, 55.1), (37.9, 56.9), (37.6, 56.4), (38.1, 57.0)),
    ),
    'COCO val bbox AP / AP50 (%)',
)

COC_MASKRCNN = Table(
    'coc-maskrcnn',
    'CoC poster: COCO Mask R-CNN HRNetV2p-W18',
    'detection',
    SEGM,
    ('coco', 'imagenet'),
    (800, 1333),
    ('backbone',),
    _coc_rows(
        'MaskRCNN-hr18',
        'hrnet-w18{}_8xb32_in1k.py',
        'mask-rcnn_hrnetv2p-w18{}_1x_coco.py',
        'hrnetv2p-w8{}_toy-cls.py',
        'mask-rcnn_hrnetv2p-w8{}_toy.py',
        ((33.9, 54.3), (34.9, 56.0), (35.1, 55.8), (35.6, 56.2)),
    ),
    'COCO val mask AP / AP50 (%), as the poster reports for Mask R-CNN',
)

#: every table, by its command-line name
TABLES = {
    t.name: t
    for t in (
        CPWC_TABLE1,
        CPWC_TABLE2,
        CPWC_TABLE3,
        CPWC_TABLE4,
        COC_RETINANET,
        COC_MASKRCNN,
    )
}


def detection_row(config_path: str) -> Optional[Tuple[Table, Row]]:
    """(table, row) whose detection config is the file ``config_path``
    (any spelling of its path), or None."""
    path = os.path.realpath(config_path)
    for table in TABLES.values():
        for row in table.rows:
            if row.detect and path.endswith(os.sep + row.detect):
                return table, row
    return None
