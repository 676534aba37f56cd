from .conv_replacement import is_pointwise, is_spatial, replace_convs

__all__ = ['is_pointwise', 'is_spatial', 'replace_convs']
