"""The model inside mmengine's wrappers."""

from mmengine.model import BaseTTAModel, is_model_wrapper
from torch import nn


def bare_model(model: nn.Module) -> nn.Module:
    """``model`` without mmengine's wrappers (DDP, ...) and test-time
    augmentation: the module a checkpoint's ``state_dict`` belongs to."""
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model
