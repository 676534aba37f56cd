from .toy_cls import make_toy_cls
from .toy_coco import make_toy_coco

__all__ = ['make_toy_coco', 'make_toy_cls']
