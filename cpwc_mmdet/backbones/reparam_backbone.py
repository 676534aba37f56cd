"""What CoCResNet and CoCHRNet share: the swap and the deploy switch."""
from typing import Optional

from ..layers.reparam_base import reparameterize
from ..layers.spatial_conv_factory import convert_spatial_convs


class ReparamBackboneMixin:
    """Swap a built backbone's k>1 convs, and re-parameterise them back.

    ``deploy=True`` keeps the plain convs the parent class built, so a deploy
    config (``model = dict(backbone=dict(deploy=True))``) has exactly the
    plain backbone's modules and state-dict keys.
    """

    def _convert_convs(self, conv_type: str, coc_cfg: Optional[dict],
                       deploy: bool) -> None:
        self.conv_type = conv_type
        self.coc_cfg = coc_cfg
        self.deploy = deploy
        if not deploy:
            convert_spatial_convs(self, conv_type, coc_cfg)

    def switch_to_deploy(self) -> None:
        """Replace every CoC / stnd / orth conv by its plain conv. Idempotent."""
        reparameterize(self)
        self.deploy = True
