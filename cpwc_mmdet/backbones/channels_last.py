"""The layout policy of CPWC backbones: CPU inference runs channels_last.

mmdet feeds backbones NCHW tensors; the fused CPWC kernel
(``cpwc_mmdet.ops``) needs channels_last. :func:`channels_last_inference`
gives a CPWC backbone (or shared head) two forward hooks: when the fused
kernel would run (CPU float32, no gradient, ``CPWC_KERNEL`` allowing it,
``ops.fused_applies``) and the input is NCHW, the input goes channels_last
and the outputs come back NCHW-contiguous, so the layout the rest of the
detector sees is unchanged. The module's weights are moved to channels_last
the first time (said once in the log; oneDNN would otherwise reorder them
at every call) and moved back when the module next runs with gradients, so
training always sees the layout it was given.

The policy only acts on a module all of whose submodules are known to take
channels_last tensors (:func:`takes_channels_last`: plain convs, CPWC,
norms, activations, pools, upsampling, and the ResNet / RegNet / HRNet
containers that chain them). Anything else (mmcv's deformable convs, which
need NCHW contiguous input; block plugins such as ContextBlock,
GeneralizedAttention, NonLocal2d, DropBlock, which reshape with ``view``;
unknown backbones) leaves that module's layout alone: its CPWC layers then
run on PyTorch convs.
"""

import torch
import torch.nn as nn
from mmdet.models.backbones import HRNet, RegNet, ResNet
from mmdet.models.backbones.hrnet import HRModule
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmdet.models.roi_heads.shared_heads import ResLayer as SharedResLayer
from mmengine.logging import print_log

from ..layers import CPWConv2d
from ..ops import fused_applies

#: modules whose ``forward`` takes (and keeps) channels_last tensors; a
#: subclass counts only if it keeps its parent's ``forward`` (``CPWCResNet``,
#: ResNeXt's ``Bottleneck``, mmdet's ``ResLayer`` as an ``nn.Sequential``)
CHANNELS_LAST_MODULES = (
    nn.Conv2d,
    CPWConv2d,
    nn.BatchNorm2d,
    nn.SyncBatchNorm,
    nn.GroupNorm,
    nn.ReLU,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.Upsample,
    nn.Identity,
    nn.Sequential,
    nn.ModuleList,
    Bottleneck,
    BasicBlock,
    ResNet,
    RegNet,
    HRModule,
    HRNet,
    SharedResLayer,
)
_CHANNELS_LAST_FORWARDS = frozenset(
    cls.forward for cls in CHANNELS_LAST_MODULES
)


def takes_channels_last(module: nn.Module) -> bool:
    """Whether every module under ``module`` (itself included) runs one of
    the ``forward`` methods of :data:`CHANNELS_LAST_MODULES`."""
    return all(
        type(m).forward in _CHANNELS_LAST_FORWARDS for m in module.modules()
    )


def _applies(module: nn.Module, x) -> bool:
    return (
        isinstance(x, torch.Tensor)
        and fused_applies(x)
        and not x.is_contiguous(memory_format=torch.channels_last)
        and takes_channels_last(module)
    )


def _set_weight_layout(module: nn.Module, channels_last: bool) -> None:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    module.to(memory_format=fmt)
    module._channels_last_weights = channels_last


def _to_channels_last(module: nn.Module, args: tuple):
    converted = bool(args) and _applies(module, args[0])
    module._converted_input = converted
    weights_moved = getattr(module, '_channels_last_weights', False)
    if not converted:
        if weights_moved and torch.is_grad_enabled():
            _set_weight_layout(module, False)  # training: as it was given
        return None
    if not weights_moved:
        if not getattr(module, '_said_channels_last', False):
            module._said_channels_last = True
            print_log(
                f'{type(module).__name__}: CPU inference runs channels_last '
                '(weights moved to that layout; moved back for training)',
                logger='current',
            )
        _set_weight_layout(module, True)
    return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])


def _to_contiguous(output):
    if isinstance(output, torch.Tensor):
        return output.contiguous()
    if isinstance(output, (tuple, list)):
        return type(output)(_to_contiguous(o) for o in output)
    return output


def _back_to_nchw(module: nn.Module, args: tuple, output):
    if getattr(module, '_converted_input', False):
        module._converted_input = False
        return _to_contiguous(output)
    return None


def channels_last_inference(module: nn.Module) -> nn.Module:
    """Give ``module`` (a CPWC backbone or shared head) the two hooks.

    Returns:
        nn.Module: ``module`` itself.
    """
    module.register_forward_pre_hook(_to_channels_last)
    module.register_forward_hook(_back_to_nchw)
    return module
