"""Model surgery, in one place: find convs, replace them, re-parameterise
them, switch a whole model to its deploy form.

Only a network's *own* convs are replaced, as in the papers: convs inside
attached modules (mmcv's deformable convs and their offset predictors,
mmdet's block plugins such as ContextBlock, GeneralizedAttention,
NonLocal2d) are left as they are.

There is one deploy route: :func:`reparameterize` replaces every CoC / stnd /
orth layer by the plain ``nn.Conv2d`` it computes; :func:`switch_model_to_deploy`
does that for a whole model and records ``deploy=True`` on the backbones
that have the flag.
"""

from typing import Callable, Iterator, List, Optional, Set, Tuple

import torch.nn as nn

from ..layers.reparam_conv import ReparamConvMixin
from .specs import CONVERTED_LAYERS, Conversion, build_conversion

try:  # mmcv's deformable convs (absent if mmcv was built without ops)
    from mmcv.ops import DeformConv2d, ModulatedDeformConv2d

    DEFORMABLE_CONVS: tuple = (DeformConv2d, ModulatedDeformConv2d)
except ImportError:  # pragma: no cover
    DEFORMABLE_CONVS = ()

#: attributes of mmdet's ResNet blocks that name their plugin modules
PLUGIN_NAME_LISTS = (
    'after_conv1_plugin_names',
    'after_conv2_plugin_names',
    'after_conv3_plugin_names',
)


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


def own_modules(
    module: nn.Module, prefix: str = ''
) -> Iterator[Tuple[str, nn.Module]]:
    """(name, module) of every descendant :func:`replace_convs` visits with
    ``own_only=True``: attached modules and the insides of converted
    layers left out."""
    skip = attached_children(module)
    for name, child in module.named_children():
        if name in skip:
            continue
        yield prefix + name, child
        if not isinstance(child, CONVERTED_LAYERS):
            yield from own_modules(child, f'{prefix}{name}.')


def convert(module: nn.Module, conversion) -> int:
    """Replace every own conv of ``module`` that ``conversion`` selects by
    its layer, in place.

    Args:
        module (nn.Module): the network.
        conversion (dict | Conversion): the spec (``specs.py``).

    Returns:
        int: how many convs were replaced.

    Raises:
        ValueError: one line naming the first conv of the method's shape
            whose class the method's layer cannot stand for (a ``conv_cfg``
            type such as mmcv's ``ConvWS2d`` under CPWC or CoC); nothing is
            replaced then.
    """
    conversion: Conversion = build_conversion(conversion)
    for name, child in own_modules(module):
        reason = conversion.refusal(child)
        if reason is not None:
            raise ValueError(f'conversion {conversion.name}: {name} {reason}')
    return replace_convs(module, conversion.selects, conversion.layer_from)


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
    :func:`reparameterize`, then ``deploy=True`` on every converted
    backbone (those that hold a ``conversion``). Idempotent.

    Returns:
        int: how many convs were re-parameterised.
    """
    count = reparameterize(model)
    for module in model.modules():  # the converted CoC backbones
        conversion = getattr(module, 'conversion', None)
        if isinstance(conversion, Conversion) and conversion.reparameterizable:
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
