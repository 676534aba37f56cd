import pytest

from cpwc_mmdet.ops.cpwc_groups import group_members, stage1_segments


@pytest.mark.parametrize(
    'c,z,expected',
    [
        (4, 4, [[0], [1], [2], [3]]),
        (7, 3, [[0, 1, 2], [3, 4], [5, 6]]),
        (3, 7, [[0], [0], [0], [1], [1], [2], [2]]),
        (10, 4, [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]),
        (256, 64, [list(range(4 * i, 4 * i + 4)) for i in range(64)]),
    ],
)
def test_group_members_follow_the_paper(c, z, expected):
    assert group_members(c, z) == expected


@pytest.mark.parametrize(
    'c,z',
    [
        (1, 1),
        (4, 4),
        (7, 3),
        (3, 7),
        (10, 4),
        (4, 10),
        (64, 256),
        (256, 64),
        (5, 2),
        (2, 5),
        (1, 5),
        (5, 1),
    ],
)
def test_segments_reproduce_the_groups(c, z):
    groups = []
    for seg in stage1_segments(c, z):
        per_in = seg.in_channels // seg.groups
        per_out = seg.out_channels // seg.groups
        for g in range(seg.groups):
            members = list(
                range(
                    seg.in_start + g * per_in, seg.in_start + (g + 1) * per_in
                )
            )
            groups.extend([members] * per_out)
    assert groups == group_members(c, z)
    weights = sum(s.num_weights for s in stage1_segments(c, z))
    assert weights == 9 * sum(len(g) for g in group_members(c, z))
    assert weights == 9 * max(c, z)
