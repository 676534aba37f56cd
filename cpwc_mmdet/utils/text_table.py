"""Plain text tables for the tools' output."""

from typing import Sequence


def format_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain, aligned text table (markdown-compatible)."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        '| ' + ' | '.join(c.ljust(w) for c, w in zip(row, widths)) + ' |'
        for row in cells
    ]
    lines.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    return '\n'.join(lines)
