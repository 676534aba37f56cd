from .shared_heads import CPWCResLayer, SlimResLayer

__all__ = ['CPWCResLayer', 'SlimResLayer']
