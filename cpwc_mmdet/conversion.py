"""Model surgery, in one place: find convs, replace them, re-parameterise
them, switch a whole model to its deploy form.

The backbones here are mmdet's own classes with some convs swapped after they
are built, so every mmdet argument (and ``zero_init_residual``, which mmdet
ties to its own block classes) keeps working. Only the network's *own* convs
are swapped, as in the papers: convs inside attached modules (mmcv's
deformable convs and their offset predictors, mmdet's block plugins such as
ContextBlock, GeneralizedAttention, NonLocal2d) are left as they are.

There is one deploy route: :func:`reparameterize` replaces every CoC / stnd /
orth layer by the plain ``nn.Conv2d`` it computes; :func:`switch_model_to_deploy`
does that for a whole detector and records ``deploy=True`` on backbones.
"""

from typing import Callable, Iterator, List, Optional, Set

import torch.nn as nn

from .layers import CoCConv2d, CPWConv2d, OrthConv2d, StndConv2d
from .layers.reparam_conv import ReparamConvMixin
from .utils.checks import check_coc_cfg, check_conv_type, parse_cpwc_cfg

try:  # mmcv's deformable convs (absent if mmcv was built without ops)
    from mmcv.ops import DeformConv2d, ModulatedDeformConv2d

    DEFORMABLE_CONVS: tuple = (DeformConv2d, ModulatedDeformConv2d)
except ImportError:  # pragma: no cover
    DEFORMABLE_CONVS = ()

#: ``conv_type`` -> the layer that replaces a k>1 conv
SPATIAL_CONV_CLASSES = {
    'coc': CoCConv2d,
    'stnd': StndConv2d,
    'orth': OrthConv2d,
}

#: layers this module makes; their inner convs are never converted again
CONVERTED_LAYERS = (CPWConv2d, ReparamConvMixin)

#: attributes of mmdet's ResNet blocks that name their plugin modules
PLUGIN_NAME_LISTS = (
    'after_conv1_plugin_names',
    'after_conv2_plugin_names',
    'after_conv3_plugin_names',
)


def is_pointwise(conv: nn.Module) -> bool:
    """True for a dense, unpadded 1x1 ``nn.Conv2d`` (what CPWC replaces)."""
    return (
        type(conv) is nn.Conv2d
        and conv.kernel_size == (1, 1)
        and conv.groups == 1
        and conv.padding == (0, 0)
        and conv.dilation == (1, 1)
    )


def is_spatial(conv: nn.Module) -> bool:
    """True for an ``nn.Conv2d`` whose kernel is larger than 1x1 (what CoC
    replaces)."""
    return type(conv) is nn.Conv2d and max(conv.kernel_size) > 1


def attached_children(module: nn.Module) -> Set[str]:
    """Names of ``module``'s children that are attached modules, not part of
    the network's own convs: the plugins of an mmdet ResNet block, and
    mmcv's deformable convs (with their ``conv_offset`` predictors)."""
    names = set()
    for attr in PLUGIN_NAME_LISTS:
        names.update(getattr(module, attr, None) or ())
    for name, child in module.named_children():
        if isinstance(child, DEFORMABLE_CONVS):
            names.add(name)
    return names


def replace_convs(
    module: nn.Module,
    select: Callable[[nn.Module], bool],
    make: Callable[[nn.Module], Optional[nn.Module]],
    own_only: bool = True,
) -> int:
    """Replace every descendant ``c`` of ``module`` with ``select(c)`` by
    ``make(c)``, in place.

    Args:
        module (nn.Module): the network, changed in place.
        select (callable): which modules to replace.
        make (callable): builds the replacement from the old module;
            returning None keeps the old one.
        own_only (bool): skip attached modules (:func:`attached_children`)
            and the insides of layers converted already (a CPWConv2d's 1x1
            path and stage-1 convs are not the network's own convs).

    Returns:
        int: how many modules were replaced.
    """
    count = 0
    skip = attached_children(module) if own_only else set()
    for name, child in list(module.named_children()):
        if name in skip:
            continue
        if select(child):
            new = make(child)
            if new is not None:
                setattr(module, name, new)
                count += 1
        elif not (own_only and isinstance(child, CONVERTED_LAYERS)):
            count += replace_convs(child, select, make, own_only)
    return count


def cpwc_from_conv(conv: nn.Conv2d, **cpwc_cfg) -> CPWConv2d:
    """A CPWConv2d with ``conv``'s channels, stride and bias setting."""
    return CPWConv2d(
        conv.in_channels,
        conv.out_channels,
        stride=conv.stride,
        bias=conv.bias is not None,
        **cpwc_cfg,
    ).to(conv.weight.device, conv.weight.dtype)


def convert_pointwise_to_cpwc(
    module: nn.Module, cpwc_cfg: Optional[dict] = None
) -> int:
    """Turn every own dense 1x1 conv under ``module`` into a CPWConv2d.

    Returns:
        int: how many convs were converted.
    """
    cfg = parse_cpwc_cfg(cpwc_cfg)
    return replace_convs(
        module, is_pointwise, lambda conv: cpwc_from_conv(conv, **cfg)
    )


def spatial_conv_from(
    conv: nn.Conv2d, conv_type: str, coc_cfg: Optional[dict] = None
) -> nn.Module:
    """A ``conv_type`` layer with ``conv``'s geometry (``coc_cfg`` for coc)."""
    kwargs = dict(
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    if conv_type == 'coc':
        kwargs.update(coc_cfg or {})
    layer = SPATIAL_CONV_CLASSES[conv_type](
        conv.in_channels, conv.out_channels, conv.kernel_size, **kwargs
    )
    return layer.to(conv.weight.device, conv.weight.dtype)


def convert_spatial_convs(
    module: nn.Module, conv_type: str, coc_cfg: Optional[dict] = None
) -> int:
    """Turn every own k>1 ``nn.Conv2d`` under ``module`` into ``conv_type``.

    Returns:
        int: how many convs were converted.
    """
    check_conv_type(conv_type)
    coc_cfg = check_coc_cfg(coc_cfg)
    return replace_convs(
        module,
        is_spatial,
        lambda conv: spatial_conv_from(conv, conv_type, coc_cfg),
    )


def reparameterize(module: nn.Module) -> int:
    """Replace, in place, every re-parameterisable conv (CoC, stnd, orth)
    under ``module`` by the plain ``nn.Conv2d`` it computes. Idempotent.

    Returns:
        int: how many layers were replaced.
    """
    return replace_convs(
        module,
        lambda m: isinstance(m, ReparamConvMixin),
        lambda m: m.to_plain_conv(),
        own_only=False,
    )


def switch_model_to_deploy(model: nn.Module) -> int:
    """The deploy form of a whole model (detector or backbone), in place:
    :func:`reparameterize`, then ``deploy=True`` on every module that has a
    ``deploy`` flag (the CoC backbones). Idempotent.

    Returns:
        int: how many convs were re-parameterised.
    """
    count = reparameterize(model)
    for module in model.modules():
        if isinstance(module, ReparamBackboneMixin):
            module.deploy = True
    return count


def converted_module_names(model: nn.Module) -> List[str]:
    """Names of the CPWC / CoC / stnd / orth layers in ``model``, in order."""
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, CONVERTED_LAYERS)
    ]


def iter_attached_modules(model: nn.Module) -> Iterator[str]:
    """Names of the attached modules (plugins, deformable convs) of
    ``model``, which conversion leaves as they are."""
    for name, module in model.named_modules():
        for child in sorted(attached_children(module)):
            yield f'{name}.{child}' if name else child


class ReparamBackboneMixin:
    """Swap a built backbone's own k>1 convs, and re-parameterise them back.

    ``deploy=True`` keeps the plain convs the parent class built, so a deploy
    config (``model = dict(backbone=dict(deploy=True))``) has exactly the
    plain backbone's modules and state-dict keys.
    """

    def _convert_convs(
        self, conv_type: str, coc_cfg: Optional[dict], deploy: bool
    ) -> None:
        self.conv_type = conv_type
        self.coc_cfg = coc_cfg
        self.deploy = deploy
        if not deploy:
            convert_spatial_convs(self, conv_type, coc_cfg)

    def switch_to_deploy(self) -> None:
        """Replace every CoC / stnd / orth conv by its plain conv. Idempotent."""
        switch_model_to_deploy(self)
