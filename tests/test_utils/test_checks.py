"""The package's argument checks (cpwc_mmdet.utils.checks)."""

import pytest
from mmdet.models.backbones import ResNet

from cpwc_mmdet.utils.checks import (
    UnknownDepthError,
    check_coc_cfg,
    check_depth,
    parse_cpwc_cfg,
    to_square,
)


@pytest.mark.parametrize('depth', [49, '50', None])
def test_unknown_depth_is_a_key_error_as_in_mmdet_with_a_clear_line(depth):
    with pytest.raises(KeyError) as err:
        check_depth(depth, ResNet.arch_settings)
    assert isinstance(err.value, ValueError)  # and a ValueError, as before
    assert isinstance(err.value, UnknownDepthError)
    assert str(err.value) == (
        f'depth must be one of [18, 34, 50, 101, 152], got {depth!r}'
    )
    with pytest.raises(KeyError):  # what mmdet's own ResNet raises
        ResNet(depth=depth)


def test_cpwc_cfg_defaults_and_errors():
    assert parse_cpwc_cfg(None) == dict(stage2=True, pwc=True)
    assert parse_cpwc_cfg(dict(stage2=False)) == dict(stage2=False, pwc=True)
    with pytest.raises(TypeError, match='^cpwc_cfg must be a dict'):
        parse_cpwc_cfg([('stage2', False)])
    with pytest.raises(ValueError, match=r'^cpwc_cfg\.pwc must be True'):
        parse_cpwc_cfg(dict(pwc=0))


def test_coc_cfg_and_square_pairs():
    assert check_coc_cfg(None) == {}
    with pytest.raises(TypeError, match='^coc_cfg must be a dict'):
        check_coc_cfg('sa=2')
    assert to_square('stride', (2, 2)) == 2
    with pytest.raises(ValueError, match='^stride must be an int or a square'):
        to_square('stride', (1, 2))
