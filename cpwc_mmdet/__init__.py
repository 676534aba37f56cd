"""cpwc_mmdet: CPWC and CoC convolutions for MMDetection 3.x.

Importing the package
* registers its layers, backbones and hooks into mmdet's registries,
* allow-lists mmengine's checkpoint types for torch's ``weights_only``
  loading (torch >= 2.6), and
* makes mmengine's local file writes atomic (no half-written checkpoints).

Configs load it with
``custom_imports = dict(imports=['cpwc_mmdet'], allow_failed_imports=False)``.
"""

from . import backbones, engine, layers, roi_heads  # noqa: F401  (registers)
from .utils.atomic_files import register_atomic_local_backend
from .utils.safe_checkpoint import register_safe_globals
from .version import __version__

register_safe_globals()
register_atomic_local_backend()

__all__ = ['__version__']
