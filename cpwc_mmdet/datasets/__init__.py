from .miniature import make_mini_cifar100, make_mini_coco, make_mini_imagenet
from .toy_cls import make_toy_cls
from .toy_coco import make_toy_coco, toy_images

__all__ = [
    'make_mini_cifar100',
    'make_mini_coco',
    'make_mini_imagenet',
    'make_toy_coco',
    'make_toy_cls',
    'toy_images',
]
