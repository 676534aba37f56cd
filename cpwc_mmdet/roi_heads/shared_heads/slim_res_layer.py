"""SlimResLayer: mmdet's C4 shared head with a settable width."""

import warnings
from typing import Optional

from mmdet.models.backbones import ResNet
from mmdet.models.layers import ResLayer as _ResLayer
from mmdet.models.roi_heads.shared_heads import ResLayer
from mmdet.registry import MODELS
from mmengine.model import BaseModule

from ...utils.checks import check_depth


@MODELS.register_module()
class SlimResLayer(ResLayer):
    """mmdet's shared-head ``ResLayer`` (one ResNet stage run per RoI) whose
    width follows ``base_channels`` as the backbone's does.

    With ``base_channels=64`` it is module-for-module mmdet's ``ResLayer``;
    smaller values make CPU-sized detectors (the toy configs).

    Args:
        depth (int): ResNet depth the stage is taken from.
        stage (int): the stage index (3 = ResNet's layer4).
        stride (int): stride of the stage's first block.
        dilation (int): dilation of the stage.
        style (str): ``'pytorch'`` or ``'caffe'``.
        base_channels (int): the backbone's ``base_channels``. Defaults to 64.
        norm_cfg, norm_eval, with_cp, dcn, init_cfg: as mmdet's ``ResLayer``.
        pretrained (str, optional): deprecated, as in mmdet's ``ResLayer``:
            a checkpoint path that becomes ``init_cfg=dict(type='Pretrained',
            checkpoint=pretrained)`` with a deprecation warning. Setting it
            together with ``init_cfg`` raises ``ValueError`` (mmdet
            asserts).

    Input ``(num_rois, base_channels * 2**(stage+1), h, w)`` gives
    ``(num_rois, base_channels * 2**(stage+2), h / stride, w / stride)`` for
    Bottleneck depths.
    """

    def __init__(
        self,
        depth: int,
        stage: int = 3,
        stride: int = 2,
        dilation: int = 1,
        style: str = 'pytorch',
        base_channels: int = 64,
        norm_cfg: dict = dict(type='BN', requires_grad=True),
        norm_eval: bool = True,
        with_cp: bool = False,
        dcn: Optional[dict] = None,
        pretrained: Optional[str] = None,
        init_cfg=None,
    ) -> None:
        check_depth(depth, ResNet.arch_settings)
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError(
                f'pretrained must be a str or None, got {pretrained!r}'
            )
        if pretrained and init_cfg:
            raise ValueError(
                'pretrained and init_cfg cannot both be set; '
                "use init_cfg=dict(type='Pretrained', "
                'checkpoint=...)'
            )
        BaseModule.__init__(self, init_cfg)
        self.norm_eval = norm_eval
        self.norm_cfg = norm_cfg
        self.stage = stage
        block, stage_blocks = ResNet.arch_settings[depth]
        planes = base_channels * 2**stage
        inplanes = base_channels * 2 ** (stage - 1) * block.expansion
        self.add_module(
            f'layer{stage + 1}',
            _ResLayer(
                block,
                inplanes,
                planes,
                stage_blocks[stage],
                stride=stride,
                dilation=dilation,
                style=style,
                with_cp=with_cp,
                norm_cfg=norm_cfg,
                dcn=dcn,
            ),
        )
        if isinstance(pretrained, str):
            warnings.warn(
                'DeprecationWarning: pretrained is deprecated, '
                'please use "init_cfg" instead'
            )
            self.init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        elif init_cfg is None:
            self.init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(
                    type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']
                ),
            ]
