"""Switch a whole model (detector or backbone) to its deploy form."""
import torch.nn as nn

from ..layers.reparam_base import reparameterize


def switch_model_to_deploy(model: nn.Module) -> int:
    """Re-parameterise every CoC / stnd / orth conv of ``model`` into a plain
    ``nn.Conv2d``, then call ``switch_to_deploy()`` on every module that has
    one (backbones record ``deploy=True``). Idempotent.

    Returns:
        int: how many convs were re-parameterised.
    """
    count = reparameterize(model)
    for module in model.modules():
        if hasattr(module, 'switch_to_deploy'):
            module.switch_to_deploy()
    return count
