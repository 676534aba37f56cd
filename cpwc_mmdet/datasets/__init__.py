from .toy_coco import make_toy_coco

__all__ = ['make_toy_coco']
