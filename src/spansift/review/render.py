"""The review as text: aligned terminal tables or Markdown."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from spansift._table import aligned
from spansift.review.report import Review

MAX_CELL = 60  # for Markdown and HTML cells; terminal tables fit the width they are given


def cell(value: Any, limit: int | None = MAX_CELL) -> str:
    """A value as short, one-line text (cut at `limit` characters unless it is None)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    text = str(value).replace("\n", " ")
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _aligned(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int | None) -> list[str]:
    return aligned(columns, [[cell(v, None) for v in row] for row in rows], width)


def _window(review: Review) -> str:
    return f"{review.since:%Y-%m-%d %H:%M} .. {review.until:%Y-%m-%d %H:%M} UTC"


def render_text(review: Review, width: int | None = None) -> str:
    """Terminal tables, one section per table, fitted to `width` when it is known."""
    out = [f"spansift review {_window(review)}"]
    out.append(", ".join(f"{k}: {v:,}" for k, v in review.totals))
    for table in review.tables:
        out += ["", f"## {table.title}"]
        out += _aligned(table.columns, table.rows, width) if table.rows else ["(none)"]
        if table.note:
            note = f"note: {table.note}"
            out += textwrap.wrap(note, width, subsequent_indent="  ") if width else [note]
    return "\n".join(out)


def _md_cell(value: Any) -> str:
    return cell(value).replace("|", "\\|")


def render_markdown(review: Review) -> str:
    """GitHub-flavoured Markdown: a heading, the totals, one table per section."""
    out = [f"# spansift review: {_window(review)}", ""]
    out.append(" · ".join(f"**{k}** {v:,}" for k, v in review.totals))
    for table in review.tables:
        out += ["", f"## {table.title}", ""]
        if table.rows:
            out.append("| " + " | ".join(table.columns) + " |")
            out.append("|" + "|".join(" --- " for _ in table.columns) + "|")
            out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in table.rows]
        else:
            out.append("_none_")
        if table.note:
            out += ["", f"_{table.note}_"]
    return "\n".join(out)


def review_document(review: Review, plain: Callable[[Any], Any]) -> dict[str, Any]:
    """The review as one JSON-ready object: window, totals, tables (rows as objects), signals.

    `plain` turns a cell value into a JSON value (the CLI's ISO 8601 `Z` timestamps).
    """
    return {
        "since": plain(review.since),
        "until": plain(review.until),
        "totals": dict(review.totals),
        "tables": [
            {
                "title": t.title,
                "rows": [
                    {c: plain(v) for c, v in zip(t.columns, row, strict=True)} for row in t.rows
                ],
                "note": t.note,
            }
            for t in review.tables
        ],
        "signals": [
            {
                "workflow": s.workflow, "first_half": s.first_half, "second_half": s.second_half,
                "growth": s.growth, "controls_added": s.controls_added, "flagged": s.flagged,
                "buckets": dict(zip(s.buckets, s.points, strict=True)),
            }
            for s in review.signals
        ],
    }  # fmt: skip
