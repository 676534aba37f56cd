"""cpwc_mmdet: CPWC and CoC convolutions for MMDetection 3.x.

Importing the package registers its layers, backbones, heads and hooks
into mmdet's registries (mmpretrain's too for the CIFAR backbones, when it
is installed) and allow-lists mmengine's checkpoint types for torch's
``weights_only`` loading (torch >= 2.6). It changes no behaviour of
mmengine or torch: atomic checkpoints and the safety hooks are what the
project's configs and tools ask for (``docs/safety.md``).

Configs load it with
``custom_imports = dict(imports=['cpwc_mmdet'], allow_failed_imports=False)``.
"""

from . import backbones, engine, layers, roi_heads  # noqa: F401  (registers)
from .utils.safe_checkpoint import register_safe_globals
from .version import __version__

register_safe_globals()

__all__ = ['__version__']
