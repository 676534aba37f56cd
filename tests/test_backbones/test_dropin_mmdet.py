"""The project's ResNets are drop-ins for mmdet's ResNet in mmdet's own DCN,
DCNv2, GCNet and empirical-attention configs and with a ResNetV1d stem:
build, ``init_weights()``, one train step and eval predict, with only the
network's own convs converted.

The detectors are mmdet's stock configs with the backbone type swapped and
shrunk for CPU by width and input size only (``base_channels=16``, 32-channel
FPN and heads, two 96 px images); each config's backbone arguments (``dcn``,
``stage_with_dcn``, ``plugins``) are used as they are. CoCHRNet is not here:
mmdet's HRNet takes no ``dcn``, ``plugins`` or stem arguments.
"""

import copy
import os
import warnings

import mmdet
import pytest
import torch
import torch.nn as nn
from mmcv.cnn.bricks import ContextBlock, GeneralizedAttention, NonLocal2d
from mmcv.ops import DeformConv2d, ModulatedDeformConv2d
from mmdet.models.layers import DropBlock
from mmdet.models.roi_heads.shared_heads import ResLayer
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.registry import DefaultScope

from cpwc_mmdet.conversion import converted_module_names
from cpwc_mmdet.layers import CPWConv2d
from cpwc_mmdet.roi_heads import CPWCResLayer, SlimResLayer

CONFIG_ROOT = os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'configs')
#: mmdet 3.3 ships no detection config with ``type='ResNetV1d'``: its stem
#: is ResNet's ``deep_stem=True, avg_down=True`` (what ResNetV1d sets)
RESNET_V1D = dict(deep_stem=True, avg_down=True)
STOCK = {
    'dcn': ('dcn/faster-rcnn_r50-dconv-c3-c5_fpn_1x_coco.py', {}),
    'dcnv2': ('dcnv2/faster-rcnn_r50-mdconv-c3-c5_fpn_1x_coco.py', {}),
    'gcb': ('gcnet/mask-rcnn_r50-gcb-r4-c3-c5_fpn_1x_coco.py', {}),
    'attn-dcn': (
        'empirical_attention/faster-rcnn_r50-attn0010-dcn_fpn_1x_coco.py',
        {},
    ),
    'v1d': ('faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', RESNET_V1D),
}
BACKBONES = {
    'cpwc': dict(type='CPWCResNet'),
    'coc': dict(type='CoCResNet', conversion=dict(type='CoC')),
    'stnd': dict(type='CoCResNet', conversion=dict(type='stnd')),
    'orth': dict(type='CoCResNet', conversion=dict(type='orth')),
}
#: modules attached to mmdet's ResNet blocks (deformable convs, plugins)
ATTACHED = (
    DeformConv2d,
    ModulatedDeformConv2d,
    ContextBlock,
    GeneralizedAttention,
    NonLocal2d,
    DropBlock,
)
BASE_CHANNELS = 16
WIDTH = 32  # FPN, RPN and RoI head channels
#: mmcv's deformable conv needs inputs at least as large as its 3x3 kernel:
#: 96 px leaves 3x3 features at stride 32
IMAGE_SIZE = 96


@pytest.fixture
def mmdet_scope():
    """mmdet's registries for the detector's parts and mmdet's plugins."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def stock_model_cfg(stock: str) -> Config:
    """The stock config's ``model``, ResNet-50 at ``BASE_CHANNELS`` and
    the rest of the detector at ``WIDTH`` channels; no pretrained weights."""
    path, extra = STOCK[stock]
    model = Config.fromfile(os.path.join(CONFIG_ROOT, path)).model
    model.backbone.update(extra, base_channels=BASE_CHANNELS, init_cfg=None)
    model.neck.update(
        in_channels=[BASE_CHANNELS * 4 * 2**i for i in range(4)],
        out_channels=WIDTH,
    )
    model.rpn_head.update(in_channels=WIDTH, feat_channels=WIDTH)
    roi_head = model.roi_head
    roi_head.bbox_roi_extractor.out_channels = WIDTH
    roi_head.bbox_head.update(in_channels=WIDTH, fc_out_channels=2 * WIDTH)
    if 'mask_head' in roi_head:
        roi_head.mask_roi_extractor.out_channels = WIDTH
        roi_head.mask_head.update(in_channels=WIDTH, conv_out_channels=WIDTH)
    # fewer proposals and RoIs for the few boxes of a small image
    model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    model.train_cfg.rcnn.sampler.num = 64
    model.test_cfg.rpn.update(nms_pre=200, max_per_img=100)
    return model


def swapped(backbone_cfg: dict, kind: str) -> dict:
    """``backbone_cfg`` (a stock ResNet's) with the type of ``kind``."""
    cfg = copy.deepcopy(dict(backbone_cfg))
    assert cfg.pop('type') == 'ResNet'
    cfg.update(BACKBONES[kind])
    return cfg


def conv_names(model: nn.Module, kind: str, attached: bool) -> list:
    """Sorted names of the plain ``nn.Conv2d`` s of ``model`` that ``kind``
    converts in a network (dense 1x1 convs for CPWC, k>1 convs for CoC,
    stnd, orth), outside or (``attached=True``) inside attached modules."""
    inside = tuple(
        name + '.'
        for name, m in model.named_modules()
        if isinstance(m, ATTACHED)
    )
    if kind == 'cpwc':

        def select(conv):
            return conv.kernel_size == (1, 1) and conv.groups == 1
    else:

        def select(conv):
            return max(conv.kernel_size) > 1

    return sorted(
        name
        for name, m in model.named_modules()
        if type(m) is nn.Conv2d
        and select(m)
        and name.startswith(inside) == attached
    )


@pytest.mark.parametrize(
    'kind,stock,num_own,num_attached',
    [
        # CPWC: conv1 and conv3 of 16 blocks and 4 downsample convs
        ('cpwc', 'gcb', 36, 3 * 13),  # 3 1x1 convs in each of 13 ContextBlocks
        ('cpwc', 'attn-dcn', 36, 9 * 3),  # key, value, proj 1x1 convs of 9 GAs
        ('cpwc', 'v1d', 36, 0),
        # CoC / stnd / orth: the 7x7 stem and the 3 plain conv2 of layer1
        ('coc', 'dcnv2', 4, 13),  # the 3x3 conv_offset of 13 DCNs
        ('stnd', 'attn-dcn', 4, 13),
        ('orth', 'gcb', 17, 0),  # 7x7 stem, 16 conv2
        ('coc', 'v1d', 19, 0),  # 3 stem convs, 16 conv2
    ],
)
def test_only_the_networks_own_convs_are_converted(
    kind, stock, num_own, num_attached
):
    backbone = stock_model_cfg(stock).backbone
    plain = MODELS.build(backbone)
    model = MODELS.build(swapped(backbone, kind))
    own = conv_names(plain, kind, attached=False)
    assert len(own) == num_own
    assert sorted(converted_module_names(model)) == own
    # the attached modules' convs of the same kind stay plain convs
    attached = conv_names(plain, kind, attached=True)
    assert len(attached) == num_attached
    assert conv_names(model, kind, attached=True) == attached


@pytest.mark.parametrize(
    'kind,num_own,num_attached',
    [
        ('cpwc', 36, 4 * 6),  # g, theta, phi, conv_out of 6 NonLocal2d
        ('coc', 17, 0),
    ],
)
def test_nonlocal_and_dropblock_plugins_are_left_alone(
    kind, num_own, num_attached, mmdet_scope
):
    backbone = dict(
        type='ResNet',
        depth=50,
        base_channels=BASE_CHANNELS,
        plugins=[
            dict(
                cfg=dict(type='NonLocal2d'),
                stages=(False, False, True, False),
                position='after_conv2',
            ),
            dict(
                cfg=dict(type='DropBlock', drop_prob=0.1, block_size=3),
                stages=(False, False, True, True),
                position='after_conv3',
            ),
        ],
    )
    plain = MODELS.build(backbone)
    model = MODELS.build(swapped(backbone, kind))
    own = conv_names(plain, kind, attached=False)
    assert len(own) == num_own
    assert sorted(converted_module_names(model)) == own
    attached = conv_names(plain, kind, attached=True)
    assert len(attached) == num_attached
    assert conv_names(model, kind, attached=True) == attached


def test_cpwc_backbone_leaves_dcn_and_plugins_alone():
    backbone = stock_model_cfg('attn-dcn').backbone
    plain = MODELS.build(backbone)
    model = MODELS.build(dict(type='CPWCBackbone', backbone=backbone))
    assert sorted(converted_module_names(model)) == conv_names(
        plain, 'cpwc', False
    )
    assert conv_names(model, 'cpwc', True) == conv_names(plain, 'cpwc', True)


def train_step_then_predict(model: nn.Module, with_mask: bool) -> None:
    """``init_weights``, one SGD step on two fake images (the converted
    layers of frozen stages stay frozen, the others get gradients), then
    eval predict on them."""
    model.init_weights()
    for name, m in model.backbone.named_modules():
        if isinstance(m, (DeformConv2d, ModulatedDeformConv2d)):
            assert type(m.conv_offset) is nn.Conv2d, name
        if isinstance(m, ModulatedDeformConv2d):
            # DCNv2's own init_weights (which broke on a converted offset
            # predictor) zeroed it
            assert not m.conv_offset.weight.any(), name
    data = demo_mm_inputs(
        2,
        (3, IMAGE_SIZE, IMAGE_SIZE),
        num_items=[3, 2],
        num_classes=80,
        with_mask=with_mask,
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    batch = model.data_preprocessor(data, True)
    loss, _ = model.parse_losses(model(**batch, mode='loss'))
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    converted = converted_module_names(model.backbone)
    assert converted
    frozen = tuple(
        f'layer{i}.' for i in range(1, model.backbone.frozen_stages + 1)
    )
    if model.backbone.frozen_stages >= 0:
        frozen += ('conv1', 'stem.')
    for name in converted:
        params = list(model.backbone.get_submodule(name).parameters())
        if name.startswith(frozen):  # frozen_stages holds for new layers
            assert not any(p.requires_grad for p in params), name
        else:
            assert all(p.grad is not None for p in params), name
    optimizer.step()

    model.eval()
    with torch.no_grad():
        results = model.test_step(data)
    assert len(results) == 2
    for result in results:
        bboxes = result.pred_instances.bboxes
        assert bboxes.dim() == 2 and bboxes.shape[1] == 4
        assert torch.isfinite(bboxes).all()
        assert torch.isfinite(result.pred_instances.scores).all()


@pytest.mark.parametrize('stock', sorted(STOCK))
@pytest.mark.parametrize('kind', sorted(BACKBONES))
def test_stock_config_with_swapped_backbone(kind, stock, mmdet_scope):
    cfg = stock_model_cfg(stock)
    cfg.backbone = swapped(cfg.backbone, kind)
    model = MODELS.build(cfg)
    train_step_then_predict(model, with_mask='mask_head' in cfg.roi_head)


def test_shared_head_takes_res_layers_pretrained_argument(tmp_path):
    """``pretrained=`` as in mmdet's ResLayer: a warning, then an
    ``init_cfg`` that loads the checkpoint (1x1 weights into CPWC's 1x1
    path)."""
    plain = SlimResLayer(depth=50, base_channels=16)
    path = str(tmp_path / 'layer4.pth')
    torch.save(dict(state_dict=plain.state_dict()), path)
    with pytest.warns(UserWarning, match='^DeprecationWarning: pretrained'):
        head = MODELS.build(
            dict(
                type='CPWCResLayer',
                depth=50,
                base_channels=16,
                pretrained=path,
            )
        )
    with pytest.warns(UserWarning, match='^DeprecationWarning: pretrained'):
        assert head.init_cfg == ResLayer(depth=50, pretrained=path).init_cfg
    head.init_weights()
    for name, layer in head.named_modules():
        if isinstance(layer, CPWConv2d):
            torch.testing.assert_close(
                layer.pwc.weight,
                plain.get_submodule(name).weight,
                rtol=0,
                atol=0,
            )
    with pytest.raises(ValueError, match='^pretrained and init_cfg'):
        CPWCResLayer(
            depth=50,
            pretrained=path,
            init_cfg=dict(type='Pretrained', checkpoint=path),
        )
    with pytest.raises(TypeError, match='^pretrained must be a str or None'):
        CPWCResLayer(depth=50, pretrained=1)


#: mmdet's stock gn+ws config: ResNet with conv_cfg=dict(type='ConvWS')
GN_WS = 'gn+ws/faster-rcnn_r50_fpn_gn-ws-all_1x_coco.py'


def gn_ws_backbone() -> dict:
    """The gn+ws config's backbone at 32 base channels (its GN has 32
    groups), no pretrained weights."""
    backbone = Config.fromfile(os.path.join(CONFIG_ROOT, GN_WS)).model.backbone
    assert backbone.conv_cfg.type == 'ConvWS'
    backbone.update(base_channels=32, init_cfg=None)
    return backbone


@pytest.mark.parametrize('kind', ['cpwc', 'coc', 'orth'])
def test_gn_ws_convs_the_method_would_drop_are_refused_in_one_line(
    kind, mmdet_scope
):
    with pytest.raises(ValueError) as err:
        MODELS.build(swapped(gn_ws_backbone(), kind))
    message = str(err.value)
    assert '\n' not in message
    assert 'is a mmcv.cnn.bricks.conv_ws.ConvWS2d (a conv_cfg type)' in (
        message
    )
    assert 'conv_cfg=None' in message


def test_gn_ws_under_stnd_keeps_its_weight_standardisation(mmdet_scope):
    """stnd's layer is mmcv's ConvWS2d: every kxk ConvWS becomes a
    StndConv2d, and the network computes what the gn+ws ResNet does."""
    from mmcv.cnn import ConvWS2d

    backbone = gn_ws_backbone()
    plain = MODELS.build(backbone)
    stnd = MODELS.build(swapped(backbone, 'stnd'))
    spatial = sorted(
        name
        for name, m in plain.named_modules()
        if type(m) is ConvWS2d and max(m.kernel_size) > 1
    )
    assert len(spatial) == 17  # the stem and 16 conv2
    assert sorted(converted_module_names(stnd)) == spatial
    stnd.load_state_dict(plain.state_dict())  # the same keys
    plain.eval()
    stnd.eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(plain(x), stnd(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_a_conversion_left_wholly_frozen_warns_in_one_line(mmdet_scope):
    """DCN in c3-c5 and frozen_stages=1: CoC converts only the stem and
    layer1's 3x3 convs, all frozen; the build says so."""
    from cpwc_mmdet.backbones.converted import FrozenConversionWarning

    backbone = stock_model_cfg('dcn').backbone
    assert backbone.frozen_stages == 1
    with pytest.warns(FrozenConversionWarning) as record:
        model = MODELS.build(swapped(backbone, 'coc'))
    converted = converted_module_names(model)
    assert len(converted) == 4
    assert not any(
        p.requires_grad
        for name in converted
        for p in model.get_submodule(name).parameters()
    )
    frozen = [w for w in record if w.category is FrozenConversionWarning]
    assert len(frozen) == 1
    message = str(frozen[0].message)
    assert '\n' not in message
    assert message.startswith('CoCResNet: all 4 CoC layers are frozen')
    assert 'frozen_stages=1' in message
    backbone.frozen_stages = 0  # layer1 trains: no warning
    with warnings.catch_warnings():
        warnings.simplefilter('error', FrozenConversionWarning)
        MODELS.build(swapped(backbone, 'coc'))
