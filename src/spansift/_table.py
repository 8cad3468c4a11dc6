"""Aligned text tables, shared by the CLI's query output and the review's terminal report.

A table fits the width it is given: only prose columns (summaries, subjects)
give way, cut with `...`; an id or a timestamp cut short is useless, so when
those alone do not fit, the line is left to wrap. Without a width (output piped
to a file) every cell is cut at `MAX_CELL`.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_CELL = 60  # widest cell when the width is unknown
MIN_CELL = 12  # no prose column is cut narrower than this, or its header
PROSE = 24  # columns wider than this may be cut to fit


def aligned(
    columns: Sequence[str], cells: Sequence[Sequence[str]], width: int | None = None
) -> list[str]:
    """Lines of a table: header, a rule of dashes, then the rows, cut to fit `width`."""
    limits = _limits(columns, cells, width)
    cut = [[_cut(v, n) for v, n in zip(row, limits, strict=True)] for row in cells]
    widths = [len(c) for c in columns]
    for row in cut:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cut
    )
    return lines


def _limits(columns: Sequence[str], cells: Sequence[Sequence[str]], width: int | None) -> list[int]:
    natural = [len(c) for c in columns]
    for row in cells:
        natural = [max(n, len(v)) for n, v in zip(natural, row, strict=True)]
    if width is None:
        return [min(n, MAX_CELL) for n in natural]
    limits = list(natural)
    floor = [
        max(len(c), MIN_CELL) if n > PROSE else n for c, n in zip(columns, natural, strict=True)
    ]
    # Take one character at a time from the widest column that can still give one.
    while sum(limits) + 2 * (len(limits) - 1) > width:
        shrinkable = [i for i, n in enumerate(limits) if n > floor[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: limits[i])
        limits[widest] -= 1
    return limits


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 1)] + "..."
