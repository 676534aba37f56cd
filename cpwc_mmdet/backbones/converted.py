"""One home for every converted backbone: build the backbone, then replace
its own convs by a method's layers (a conversion spec, ``cpwc_mmdet.
conversion``).

:class:`ConvertedBackbone` makes an mmdet backbone class a converted one
(``CPWCResNet``, ``CoCResNet``, ``CPWCHRNet``, ``CoCHRNet``), and
:func:`convert_backbone` converts any built backbone (``CPWCBackbone``,
``CoCBackbone``). Since the convs are swapped after the parent class built
its modules, every argument of the parent keeps working (mmdet ties
``zero_init_residual`` to its own block classes), and the state-dict keys
are the parent's with each converted conv's own names under its key.
"""

import warnings
from typing import List, Optional, Tuple

import torch.nn as nn

from ..conversion import (
    CONVERTED_LAYERS,
    Conversion,
    build_conversion,
    convert,
    switch_model_to_deploy,
)
from ..utils.checks import check_bool, has_pretrained_init
from ..utils.errors import FrozenNormWarning
from .channels_last import channels_last_inference


def convert_backbone(
    backbone: nn.Module, conversion: Conversion, deploy: bool = False
) -> nn.Module:
    """Convert ``backbone`` in place and record how.

    Args:
        backbone (nn.Module): a built backbone.
        conversion (Conversion): the method.
        deploy (bool): keep the plain convs (the re-parameterised form of a
            CoC / stnd / orth backbone, whose checkpoints load as they are).

    Returns:
        nn.Module: ``backbone``, with ``conversion`` and ``deploy``
        attributes; stages it freezes stay frozen; CPWC backbones run CPU
        inference channels_last inside (``channels_last.py``).

    Raises:
        ValueError: ``deploy=True`` for a method without a deploy form; a
            conv of the method's shape whose class it cannot stand for
            (``conversion.convert``); or a conversion that matched no conv
            (see :func:`check_trainable`).
    """
    check_bool('deploy', deploy)
    if deploy and not conversion.reparameterizable:
        raise ValueError(
            f'deploy=True: {conversion.name} has no deploy form (only CoC, '
            'stnd and orth re-parameterise to plain convs)'
        )
    backbone.conversion = conversion
    backbone.deploy = deploy
    if not deploy:
        convert(backbone, conversion)
    if hasattr(backbone, '_freeze_stages'):
        backbone._freeze_stages()  # the new layers obey frozen_stages too
    if not deploy:
        check_trainable(backbone, conversion)
    if not conversion.reparameterizable:
        channels_last_inference(backbone)
    return backbone


class FrozenConversionWarning(UserWarning):
    """Every layer a conversion made is frozen: the method trains
    nothing in this model."""


def check_trainable(backbone: nn.Module, conversion: Conversion) -> None:
    """Say in one line when the converted backbone has no trainable layer
    of the method.

    No layer at all is an error: the model would be the plain network
    under the method's name, which no run wants (e.g. a ``conv_cfg`` or
    ``dcn`` that takes every conv of the method's shape). Layers that are
    all frozen (e.g. ``frozen_stages=1`` with DCN in the other stages:
    CoC converts only the stem and layer1) is a warning: a frozen,
    pretrained converted backbone is a legitimate feature extractor, but a
    run meant to train the method would learn nothing of it.

    Raises:
        ValueError: the conversion matched no conv.
    """
    layers = [m for m in backbone.modules() if isinstance(m, CONVERTED_LAYERS)]
    name = type(backbone).__name__
    if not layers:
        raise ValueError(
            f'{name}: conversion {conversion.name} found none of its '
            f"{conversion.shape_in_words} among the network's own convs "
            '(deformable convs and plugins are left alone), so the model '
            'would be the plain network: use the plain backbone, or give '
            'the convs this method replaces'
        )
    if not any(p.requires_grad for m in layers for p in m.parameters()):
        warnings.warn(
            f'{name}: all {len(layers)} {conversion.name} layers are frozen '
            f'(requires_grad=False, e.g. frozen_stages='
            f'{getattr(backbone, "frozen_stages", "?")} with the other '
            "stages' convs deformable or not of the method's shape), so "
            f'training leaves {conversion.name} as it was loaded; lower '
            'frozen_stages to train it',
            FrozenConversionWarning,
            stacklevel=2,
        )


def legacy_conversion(
    default: dict,
    cpwc_cfg: Optional[dict] = None,
    conv_type: Optional[str] = None,
    coc_cfg: Optional[dict] = None,
) -> Optional[dict]:
    """The spec that the arguments of earlier versions (``cpwc_cfg``;
    ``conv_type``, ``coc_cfg``) describe, with a deprecation warning; None
    when none is given."""
    if cpwc_cfg is None and conv_type is None and coc_cfg is None:
        return None
    if cpwc_cfg is not None:
        spec = dict(type='CPWC', **dict(cpwc_cfg))
    else:
        kind = {'coc': 'CoC', None: default['type']}.get(conv_type, conv_type)
        spec = dict(type=kind, **dict(coc_cfg or {}))
    warnings.warn(
        f'cpwc_cfg / conv_type / coc_cfg are deprecated: use conversion='
        f'{spec!r}',
        FutureWarning,
        stacklevel=3,
    )
    return spec


def frozen_norm_settings(backbone: nn.Module) -> List[str]:
    """The settings of ``backbone`` that freeze its BN: ``norm_eval=True``
    (running statistics used in training) and ``requires_grad=False`` in
    its ``norm_cfg`` (affine fixed)."""
    frozen = []
    if getattr(backbone, 'norm_eval', False):
        frozen.append('norm_eval=True')
    norm_cfg = getattr(backbone, 'norm_cfg', None) or {}
    if norm_cfg.get('requires_grad', True) is False:
        frozen.append('norm_cfg requires_grad=False')
    return frozen


def warn_frozen_norm_from_scratch(backbone: nn.Module) -> None:
    """One warning line when a CoC / stnd / orth backbone (train form)
    starts without pretrained weights while its BN is frozen.

    mmdet's detection configs freeze BN, which suits a pretrained backbone;
    from random initialisation a frozen BN is the identity (mean 0, var 1)
    and never learns its statistics. The CoC and orth layers start at a
    Kaiming conv's gain; stnd convs (no gain parameter) at ``sqrt(fan_in)``.
    """
    conversion = getattr(backbone, 'conversion', None)
    if (
        conversion is None
        or not conversion.reparameterizable
        or getattr(backbone, 'deploy', False)
        or has_pretrained_init(getattr(backbone, 'init_cfg', None))
    ):
        return
    frozen = frozen_norm_settings(backbone)
    if frozen:
        warnings.warn(
            f'{type(backbone).__name__} ({conversion.name}) starts from '
            f'random weights with its BN frozen ({", ".join(frozen)}): its '
            'BN will never learn statistics; set model.backbone.norm_eval='
            "False and norm_cfg=dict(type='BN', requires_grad=True), or give "
            "init_cfg=dict(type='Pretrained', checkpoint=...) (ignore this "
            'if load_from loads the whole model)',
            FrozenNormWarning,
            stacklevel=3,
        )


class ConvertedBackbone:
    """Mixin that converts the backbone class it precedes in the MRO.

    Class attributes:
        default_conversion (dict): the spec used when none is given.
        methods (tuple[str]): the conversion types the class accepts.

    Args:
        conversion (dict, optional): the conversion spec, e.g.
            ``dict(type='CPWC', stage2=False)`` or ``dict(type='stnd')``.
            Defaults to ``default_conversion``.
        deploy (bool): build the re-parameterised (plain) form of a CoC /
            stnd / orth backbone. Defaults to False.
        **kwargs: the backbone class's own arguments.
    """

    default_conversion: dict = {}
    methods: Tuple[str, ...] = ()

    def __init__(
        self,
        *args,
        conversion: Optional[dict] = None,
        deploy: bool = False,
        cpwc_cfg: Optional[dict] = None,
        conv_type: Optional[str] = None,
        coc_cfg: Optional[dict] = None,
        **kwargs,
    ) -> None:
        legacy = legacy_conversion(
            self.default_conversion, cpwc_cfg, conv_type, coc_cfg
        )
        if legacy is not None and conversion is not None:
            raise ValueError(
                'give conversion only (cpwc_cfg / conv_type / coc_cfg are '
                'its deprecated spellings)'
            )
        spec = build_conversion(
            conversion or legacy or dict(self.default_conversion)
        )
        if spec.name not in self.methods:
            raise ValueError(
                f'{type(self).__name__} takes conversion types '
                f'{", ".join(self.methods)}, got {spec.name!r}'
            )
        super().__init__(*args, **kwargs)
        convert_backbone(self, spec, deploy)

    def init_weights(self) -> None:
        """The parent's ``init_weights``, after a warning when a CoC / stnd
        / orth backbone starts from no pretrained weights with its BN
        frozen (:func:`warn_frozen_norm_from_scratch`)."""
        warn_frozen_norm_from_scratch(self)
        super().init_weights()

    def switch_to_deploy(self) -> None:
        """Re-parameterise every CoC / stnd / orth conv to a plain conv, in
        place (idempotent); CPWC backbones have one form."""
        switch_model_to_deploy(self)
