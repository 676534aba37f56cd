"""CPU inference of CPWC models in channels_last, where the fused kernel runs.

mmdet feeds backbones NCHW tensors; the fused CPWC kernel
(``cpwc_mmdet/ops``) needs channels_last. ``channels_last_inference(model)``
adds two forward hooks: when no gradient is needed and the input is a CPU
float32 NCHW batch, the input (and, once, the weights) go channels_last and
the outputs come back NCHW-contiguous, so the layout the rest of the
detector sees is unchanged. Training, GPUs, other dtypes, tracing and
export are untouched. ``model.channels_last_inference = False`` turns it off.

The switch only acts on a module all of whose submodules are known to take
channels_last tensors (:func:`takes_channels_last`: plain convs, CPWC, norms,
activations, pools, upsampling, and the ResNet / RegNet / HRNet containers
that chain them). Anything else (mmcv's deformable convs, which need NCHW
contiguous input; block plugins such as ContextBlock, GeneralizedAttention,
NonLocal2d, DropBlock, which reshape with ``view``; unknown backbones) turns
it off for that module: its CPWC layers then run their PyTorch path.
"""

import torch
import torch.nn as nn
from mmdet.models.backbones import HRNet, RegNet, ResNet
from mmdet.models.backbones.hrnet import HRModule
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmdet.models.roi_heads.shared_heads import ResLayer as SharedResLayer

from ..layers import CPWConv2d
from . import fused_context

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
        getattr(module, 'channels_last_inference', True)
        and isinstance(x, torch.Tensor)
        and not torch.is_grad_enabled()
        and fused_context.qualifies(x, channels_last=False)
        and not x.is_contiguous(memory_format=torch.channels_last)
        and not fused_context.is_exporting()
        and takes_channels_last(module)
    )


def _to_channels_last(module: nn.Module, args: tuple):
    module._converted_input = bool(args) and _applies(module, args[0])
    if not module._converted_input:
        return None
    if not getattr(module, '_channels_last_weights', False):
        module.to(memory_format=torch.channels_last)  # once: no per-call
        module._channels_last_weights = True  # weight reorders
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
    """Add the two hooks to ``module`` (a backbone or a shared head).

    Returns:
        nn.Module: ``module`` itself.
    """
    module.register_forward_pre_hook(_to_channels_last)
    module.register_forward_hook(_back_to_nchw)
    return module
