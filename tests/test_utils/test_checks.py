"""The argument checks the layers and backbones share
(cpwc_mmdet.utils.checks)."""

import pytest
from mmdet.models.backbones import ResNet

from cpwc_mmdet.utils.checks import (
    UnknownDepthError,
    check_bool,
    check_depth,
    check_positive_int,
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


def test_bools_ints_and_square_pairs():
    assert check_bool('stage2', False) is False
    with pytest.raises(ValueError, match='^stage2 must be True or False'):
        check_bool('stage2', 0)
    assert check_positive_int('groups', 3) == 3
    with pytest.raises(TypeError, match='^groups must be an int'):
        check_positive_int('groups', 2.0)
    with pytest.raises(ValueError, match='^groups must be a positive int'):
        check_positive_int('groups', 0)
    assert to_square('stride', (2, 2)) == 2
    with pytest.raises(ValueError, match='^stride must be an int or a square'):
        to_square('stride', (1, 2))
