"""The review as text: aligned terminal tables, Markdown, or JSON (also what the page reads)."""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from spansift._table import aligned
from spansift.review.report import Review


def cell(value: Any) -> str:
    """A value as one line of text; nothing is cut (summaries are read in full)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value).replace("\n", " ")


def _aligned(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int | None) -> list[str]:
    return aligned(columns, [[cell(v) for v in row] for row in rows], width)


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


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def render_json(review: Review) -> str:
    """One JSON document: window, totals, patterns in triage order, signals and every table."""
    return json.dumps(review_dict(review), ensure_ascii=False, indent=1)


def review_dict(review: Review) -> dict[str, Any]:
    """The review as JSON-ready data (what `--format json` prints and the page reads)."""
    return {
        "since": _iso(review.since),
        "until": _iso(review.until),
        "totals": dict(review.totals),
        "patterns": [p.as_json() for p in review.patterns],
        "signals": [
            {
                "workflow": s.workflow,
                "runs": list(s.runs),
                "runs_with_exceptions": list(s.hit_runs),
                "rates": list(s.rates),
                "ratio": _plain(s.ratio),
                "p_value": s.p_value,
                "controls_added": s.controls_added,
                "verdict": s.verdict,
                "flagged": s.flagged,
            }
            for s in review.signals
        ],
        "tables": [
            {
                "title": t.title,
                "columns": list(t.columns),
                "rows": [[_plain(v) for v in row] for row in t.rows],
                "note": t.note,
            }
            for t in review.tables
        ],
    }


def _iso(value: datetime) -> str:
    """ISO 8601 in UTC with `Z`, as every JSON output of the CLI (naive values are UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat() + "Z"
