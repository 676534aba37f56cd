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
from typing import Optional, Tuple

import torch.nn as nn

from ..conversion import (
    Conversion,
    build_conversion,
    convert,
    switch_model_to_deploy,
)
from ..utils.checks import check_bool
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
        ValueError: ``deploy=True`` for a method without a deploy form.
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
    if not conversion.reparameterizable:
        channels_last_inference(backbone)
    return backbone


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

    def switch_to_deploy(self) -> None:
        """Re-parameterise every CoC / stnd / orth conv to a plain conv, in
        place (idempotent); CPWC backbones have one form."""
        switch_model_to_deploy(self)
