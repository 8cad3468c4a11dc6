"""Aligned text tables, shared by the CLI's query output and the review's terminal report."""

from __future__ import annotations

from collections.abc import Sequence


def aligned(columns: Sequence[str], cells: Sequence[Sequence[str]]) -> list[str]:
    """Lines of a table: header, a rule of dashes, then the rows, columns padded to fit."""
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
    return lines
