"""Channel grouping of CPWC's stage 1 (paper Sec. 2, "Selection of Channels").

Stage 1 has one 3x3 filter per output channel ``z`` over an input group ``G(z)``.
Whatever the case (Z == C, Z < C, Z > C, with or without remainder), the groups
split into at most two *segments*, each of which is one grouped convolution over
a contiguous slice of input channels:

* Z <= C: ``q, rm = divmod(C, Z)``. The first ``rm`` groups read ``q + 1``
  consecutive channels, the remaining ``Z - rm`` groups read ``q``.
* Z > C: ``q, rm = divmod(Z, C)``. Every group reads one channel; channel ``c``
  feeds ``q + 1`` consecutive groups if ``c < rm``, else ``q``.

So stage 1 never loops over groups, even when groups are uneven.

:func:`segment_rows` writes the segments as the one table every
implementation of the context unit reads (``context_unit``'s ``segments``).
"""

from typing import List, NamedTuple, Tuple


class Segment(NamedTuple):
    """One grouped convolution of stage 1.

    Attributes:
        in_start (int): first input channel of the slice.
        in_channels (int): channels of the input slice.
        out_channels (int): output channels it produces (consecutive ``z``).
        groups (int): ``groups`` of the grouped conv.
    """

    in_start: int
    in_channels: int
    out_channels: int
    groups: int

    @property
    def num_weights(self) -> int:
        """Trainable 3x3 weights: ``out_channels * in_channels / groups * 9``."""
        return self.out_channels * (self.in_channels // self.groups) * 9


def stage1_segments(in_channels: int, out_channels: int) -> List[Segment]:
    """Split CPWC's stage-1 groups into at most two grouped convolutions.

    Args:
        in_channels (int): C, input channels of the pointwise conv.
        out_channels (int): Z, output channels of the pointwise conv.

    Returns:
        list[Segment]: one or two segments, covering every input channel and
        producing output channels ``0 .. Z-1`` in order.

    Example:
        >>> [tuple(s) for s in stage1_segments(7, 3)]
        [(0, 3, 1, 1), (3, 4, 2, 2)]
        >>> [tuple(s) for s in stage1_segments(3, 7)]
        [(0, 1, 3, 1), (1, 2, 4, 2)]
    """
    if out_channels <= in_channels:
        q, rm = divmod(in_channels, out_channels)
        wide = Segment(0, rm * (q + 1), rm, rm)
        narrow = Segment(
            rm * (q + 1),
            (out_channels - rm) * q,
            out_channels - rm,
            out_channels - rm,
        )
    else:
        q, rm = divmod(out_channels, in_channels)
        wide = Segment(0, rm, rm * (q + 1), rm)
        narrow = Segment(
            rm, in_channels - rm, (in_channels - rm) * q, in_channels - rm
        )
    return [s for s in (wide, narrow) if s.groups > 0]


def segment_rows(in_channels: int, out_channels: int) -> Tuple[int, ...]:
    """The segment table of a ``(C, Z)`` layer, flattened: per segment
    ``(input channel start, z start, z count, width)``.

    Width is the group size ``r`` for Z <= C (members are input channels)
    and the repeat count ``e`` of each input channel for Z > C (members are
    output channels). A tuple of ints, so it is hashable and torch.compile
    keeps it a constant.

    Example:
        >>> segment_rows(7, 3)
        (0, 0, 1, 3, 3, 1, 2, 2)
        >>> segment_rows(3, 7)
        (0, 0, 3, 3, 1, 3, 4, 2)
    """
    rows, z_start = [], 0
    for seg in stage1_segments(in_channels, out_channels):
        if out_channels <= in_channels:
            width = seg.in_channels // seg.groups
        else:
            width = seg.out_channels // seg.in_channels
        rows += [seg.in_start, z_start, seg.out_channels, width]
        z_start += seg.out_channels
    return tuple(rows)


def group_members(in_channels: int, out_channels: int) -> List[List[int]]:
    """G(z) for every output channel z, written out literally (slow, for tests).

    Args:
        in_channels (int): C.
        out_channels (int): Z.

    Returns:
        list[list[int]]: ``Z`` lists of input-channel indices.
    """
    if out_channels <= in_channels:
        q, rm = divmod(in_channels, out_channels)
        groups, start = [], 0
        for z in range(out_channels):
            size = q + 1 if z < rm else q
            groups.append(list(range(start, start + size)))
            start += size
        return groups
    q, rm = divmod(out_channels, in_channels)
    groups = []
    for c in range(in_channels):
        groups.extend([[c]] * (q + 1 if c < rm else q))
    return groups
