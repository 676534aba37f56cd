"""Say which keys of a checkpoint do not fit a model."""

from typing import Mapping, Optional

import torch.nn as nn


def _head(keys, limit=5):
    keys = sorted(keys)
    return f'{keys[:limit]}' + (
        f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    )


def describe_mismatch(
    model: nn.Module, state_dict: Mapping[str, object]
) -> Optional[str]:
    """None if ``state_dict`` fits ``model`` exactly, else one line naming
    the missing, unexpected and wrongly shaped keys."""
    own = model.state_dict()
    missing = set(own) - set(state_dict)
    unexpected = set(state_dict) - set(own)
    shapes = {
        k
        for k in set(own) & set(state_dict)
        if tuple(own[k].shape) != tuple(getattr(state_dict[k], 'shape', ()))
    }
    if not (missing or unexpected or shapes):
        return None
    parts = []
    if missing:
        parts.append(f'missing keys {_head(missing)}')
    if unexpected:
        parts.append(f'unexpected keys {_head(unexpected)}')
    if shapes:
        parts.append(f'shape mismatch {_head(shapes)}')
    return '; '.join(parts)
