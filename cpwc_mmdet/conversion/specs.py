"""The conversion spec: which convs a method replaces, and by what layer.

A spec is a config dict, ``dict(type='CPWC' | 'CoC' | 'stnd' | 'orth',
**layer arguments)``, built through :data:`CONVERSIONS`. The layer alone
validates its arguments: building a spec builds one small layer with them,
so an unknown key or a bad value is the layer's own one-line error.

* ``CPWC``: every dense, unpadded 1x1 ``nn.Conv2d`` becomes a
  :class:`~cpwc_mmdet.layers.CPWConv2d` (arguments: ``stage2``, ``pwc``).
* ``CoC``: every ``nn.Conv2d`` with a kernel larger than 1x1 becomes a
  :class:`~cpwc_mmdet.layers.CoCConv2d` (``sa``, ``sk_plus``, ``skip``,
  ``dilat``, ``stnd``, ``orth``); ``stnd`` and ``orth`` likewise become
  :class:`~cpwc_mmdet.layers.StndConv2d` / :class:`OrthConv2d` (the CoC
  poster's comparison rows). These three re-parameterise to plain convs.

A conv of that shape whose class is a subclass of ``nn.Conv2d`` (what a
``conv_cfg`` such as mmcv's ``ConvWS`` builds) is converted only when
nothing of it is lost: its class computes ``nn.Conv2d``'s forward, or the
method's layer is itself one of that class (``stnd``'s ``StndConv2d`` is
mmcv's ``ConvWS2d``). Any other (weight standardisation under CPWC or CoC,
``ConvAWS``, ``SAC``, adaptive padding, mmcv's empty-input ``Conv``) is
refused in one line naming it, rather than skipped silently.
"""

import inspect
from typing import Optional, Union

import torch.nn as nn
from mmengine.registry import Registry

from ..layers import CoCConv2d, CPWConv2d, OrthConv2d, StndConv2d
from ..layers.reparam_conv import ReparamConvMixin

#: the conversion specs by ``type``
CONVERSIONS = Registry('conversion', scope='cpwc_mmdet')

#: layers this package makes; never converted again
CONVERTED_LAYERS = (CPWConv2d, ReparamConvMixin)


def _is_conv(conv: nn.Module) -> bool:
    """An ``nn.Conv2d`` (or subclass) that is not one of our layers."""
    return isinstance(conv, nn.Conv2d) and not isinstance(
        conv, CONVERTED_LAYERS
    )


def has_pointwise_shape(conv: nn.Module) -> bool:
    """A dense, unpadded 1x1 conv of any ``nn.Conv2d`` class."""
    return (
        _is_conv(conv)
        and conv.kernel_size == (1, 1)
        and conv.groups == 1
        and conv.padding == (0, 0)
        and conv.dilation == (1, 1)
    )


def has_spatial_shape(conv: nn.Module) -> bool:
    """A conv with a kernel larger than 1x1, of any ``nn.Conv2d`` class."""
    return _is_conv(conv) and max(conv.kernel_size) > 1


def is_pointwise(conv: nn.Module) -> bool:
    """True for a dense, unpadded 1x1 ``nn.Conv2d`` (what CPWC replaces)."""
    return type(conv) is nn.Conv2d and has_pointwise_shape(conv)


def is_spatial(conv: nn.Module) -> bool:
    """True for an ``nn.Conv2d`` whose kernel is larger than 1x1 (what CoC
    replaces)."""
    return type(conv) is nn.Conv2d and has_spatial_shape(conv)


def computes_as_conv2d(cls: type) -> bool:
    """Whether instances of ``cls`` (an ``nn.Conv2d`` subclass) compute
    exactly ``nn.Conv2d``'s forward (they change nothing but, say, their
    initialisation)."""
    return (
        cls.forward is nn.Conv2d.forward
        and cls._conv_forward is nn.Conv2d._conv_forward
    )


class Conversion:
    """A method: which convs it selects and the layer it makes of each.

    Args:
        **layer_args: arguments of the layer class beyond a conv's geometry.
    """

    #: the layer that replaces a selected conv
    layer_class: type = nn.Module
    #: whether the layers re-parameterise to plain convs (a deploy form)
    reparameterizable = False
    #: the ``type`` it is registered under
    name = ''

    def __init__(self, **layer_args) -> None:
        self.layer_args = layer_args
        self.layer_from(self.probe())  # the layer checks its arguments

    #: the convs it replaces, in words (for messages)
    shape_in_words = ''
    #: what to do instead of a refused conv class, in words
    instead = 'build those convs as plain nn.Conv2d (conv_cfg=None)'

    def has_shape(self, conv: nn.Module) -> bool:
        """Whether ``conv`` has the shape this method replaces (any
        ``nn.Conv2d`` class)."""
        raise NotImplementedError

    def keeps(self, conv: nn.Module) -> bool:
        """Whether the layer computes what ``conv``'s class adds to a
        plain conv: nothing added, or the layer is one of that class."""
        cls = type(conv)
        return (
            cls is nn.Conv2d
            or issubclass(self.layer_class, cls)
            or computes_as_conv2d(cls)
        )

    def selects(self, conv: nn.Module) -> bool:
        """Whether ``conv`` is one this method replaces."""
        return self.has_shape(conv) and self.keeps(conv)

    def refusal(self, conv: nn.Module) -> Optional[str]:
        """Why ``conv`` cannot be converted (it has the shape, but its class
        computes something a plain conv does not), or None."""
        if not self.has_shape(conv) or self.keeps(conv):
            return None
        cls = type(conv)
        return (
            f'is a {cls.__module__}.{cls.__qualname__} (a conv_cfg type), '
            f"whose forward differs from nn.Conv2d's: a {self.name} "
            f'{self.layer_class.__name__} would drop what it does; '
            f'{self.instead}'
        )

    def probe(self) -> nn.Conv2d:
        """A small conv of the kind this method selects."""
        raise NotImplementedError

    def geometry(self, conv: nn.Conv2d) -> dict:
        """The layer arguments that come from the conv it replaces."""
        raise NotImplementedError

    def layer_from(self, conv: nn.Conv2d) -> nn.Module:
        """The layer replacing ``conv``, on its device and in its dtype.
        A conv of a class the layer derives from passes on its own
        arguments too (``ConvWS2d``'s ``eps``), unless the spec sets them.

        Raises:
            ValueError: one line, for arguments the layer does not take.
        """
        parameters = inspect.signature(self.layer_class).parameters
        allowed = [
            name
            for name in parameters
            if name not in self.geometry(conv)
            and name not in ('in_channels', 'out_channels', 'kernel_size')
        ]
        unknown = sorted(set(self.layer_args) - set(allowed))
        if unknown:
            raise ValueError(
                f'conversion {self.name}: unknown arguments {unknown} '
                f'({self.layer_class.__name__} takes {allowed})'
            )
        inherited = {}
        if type(conv) is not nn.Conv2d and issubclass(
            self.layer_class, type(conv)
        ):
            inherited = {
                name: getattr(conv, name)
                for name in inspect.signature(type(conv)).parameters
                if name in allowed
                and name not in self.layer_args
                and hasattr(conv, name)
            }
        layer = self.layer_class(
            **self.geometry(conv), **inherited, **self.layer_args
        )
        return layer.to(conv.weight.device, conv.weight.dtype)

    def to_dict(self) -> dict:
        """The spec as a config dict."""
        return dict(type=self.name, **self.layer_args)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self.layer_args.items())
        return f'{self.name}({args})'


@CONVERSIONS.register_module(name='CPWC')
class CPWCConversion(Conversion):
    """Every dense 1x1 conv becomes a CPWConv2d."""

    layer_class = CPWConv2d
    name = 'CPWC'
    shape_in_words = 'dense, unpadded 1x1 convs'

    def has_shape(self, conv: nn.Module) -> bool:
        return has_pointwise_shape(conv)

    def probe(self) -> nn.Conv2d:
        return nn.Conv2d(4, 4, 1, bias=False)

    def geometry(self, conv: nn.Conv2d) -> dict:
        return dict(
            in_channels=conv.in_channels,
            out_channels=conv.out_channels,
            stride=conv.stride,
            bias=conv.bias is not None,
        )


class SpatialConversion(Conversion):
    """Every conv with a kernel larger than 1x1 becomes ``layer_class``,
    which re-parameterises to a plain conv."""

    reparameterizable = True
    shape_in_words = 'convs with a kernel larger than 1x1'
    instead = (
        'build those convs as plain nn.Conv2d (conv_cfg=None); weight '
        "standardisation of the kxk convs is conversion=dict(type='stnd')"
    )

    def has_shape(self, conv: nn.Module) -> bool:
        return has_spatial_shape(conv)

    def probe(self) -> nn.Conv2d:
        return nn.Conv2d(4, 4, 3, padding=1, bias=False)

    def geometry(self, conv: nn.Conv2d) -> dict:
        return dict(
            in_channels=conv.in_channels,
            out_channels=conv.out_channels,
            kernel_size=conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
        )


@CONVERSIONS.register_module(name='CoC')
class CoCConversion(SpatialConversion):
    layer_class = CoCConv2d
    name = 'CoC'


@CONVERSIONS.register_module(name='stnd')
class StndConversion(SpatialConversion):
    layer_class = StndConv2d
    name = 'stnd'


@CONVERSIONS.register_module(name='orth')
class OrthConversion(SpatialConversion):
    layer_class = OrthConv2d
    name = 'orth'


def build_conversion(spec: Union[dict, Conversion, None]) -> Conversion:
    """A :class:`Conversion` from its spec (a built one is returned as is).

    Raises:
        ValueError: one line for a spec that is not a dict with a known
            ``type``, or arguments its layer rejects.
    """
    if isinstance(spec, Conversion):
        return spec
    types = ', '.join(sorted(CONVERSIONS.module_dict))
    if not isinstance(spec, dict) or 'type' not in spec:
        raise ValueError(
            f'conversion must be a dict with a type ({types}), got {spec!r}'
        )
    spec = dict(spec)
    kind = spec.pop('type')
    cls = CONVERSIONS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(
            f'conversion type must be one of {types}, got {kind!r}'
        )
    return cls(**spec)
