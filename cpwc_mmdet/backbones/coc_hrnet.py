"""CoCHRNet: mmdet's HRNet with CoC (or stnd / orth) on every k>1 conv."""

from typing import Optional

from mmdet.models.backbones import HRNet
from mmdet.registry import MODELS

from ..conversion import ReparamBackboneMixin
from ..utils.checks import check_bool, check_coc_cfg, check_conv_type


@MODELS.register_module()
class CoCHRNet(ReparamBackboneMixin, HRNet):
    """HRNet whose k>1 convs (stem, branches, fuse and transition layers) are
    CoC, stnd or orth; 1x1 convs stay plain.

    Args:
        extra (dict): HRNet's stage description (as mmdet's HRNet).
        conv_type (str): ``'coc'``, ``'stnd'`` or ``'orth'``.
        coc_cfg (dict, optional): CoC hyper-parameters for ``'coc'``.
        deploy (bool): build the re-parameterised (plain) form.
        **kwargs: any argument of ``mmdet.models.backbones.HRNet``.
    """

    def __init__(
        self,
        extra: dict,
        conv_type: str = 'coc',
        coc_cfg: Optional[dict] = None,
        deploy: bool = False,
        **kwargs,
    ) -> None:
        check_conv_type(conv_type)
        check_bool('deploy', deploy)
        coc_cfg = check_coc_cfg(coc_cfg)
        super().__init__(extra=extra, **kwargs)
        self._convert_convs(conv_type, coc_cfg, deploy)
