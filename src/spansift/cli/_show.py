"""`spansift show ID`: one exception, the offending span's attributes, and its trace as a tree.

The attributes shown are the span's evidence: already bounded and redacted when
the row was written (no prompts, model output or tool arguments). Keys spansift
reads come first, so the ones that made the rule fire are at the top.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click

from spansift import attrs
from spansift.cli._common import db_option, fail, read_query, read_result
from spansift.cli._log import format_option
from spansift.cli._output import cell, dump, plain, records
from spansift.cli._remote import token_option
from spansift.cli._write import emit, out_option

SHOW_COLUMNS = (
    "exception_id", "exception_type", "severity", "status", "occurred_at", "detected_at",
    "workflow", "step", "agent", "tool", "rule_id", "boundary", "owner", "follow_up",
    "resolution", "summary", "trace_id", "span_id",
)  # fmt: skip
MAX_VALUE = 160
_SPANS_SQL = (
    "SELECT span_id, parent_span_id, name, status, "
    "date_diff('microsecond', start_at, end_at) / 1000.0 AS duration_ms, offending, span "
    "FROM evidence_spans WHERE exception_id = ? ORDER BY start_at, span_id"
)


@click.command()
@click.argument("exception_id")
@db_option
@format_option(("text", "json"), "text")
@out_option
@token_option
def show(exception_id: str, db: str, fmt: str, out: str | None) -> None:
    """Print one exception, the offending span's attributes, and its trace as a tree.

    EXCEPTION_ID may be the short id `spansift ls` prints (any unique prefix). In
    the tree the offending span is marked with '>'.
    """
    prefix = exception_id.strip().lower()
    if len(prefix) < 6:
        fail("give at least 6 characters of the exception id")
    _, rows = read_query(
        db,
        f"SELECT {', '.join(SHOW_COLUMNS)}, evidence FROM exceptions "
        "WHERE starts_with(exception_id, ?)",
        [prefix],
    )
    if not rows:
        fail(f"no exception with id {exception_id!r} in {db}")
    if len(rows) > 1 and len({r[0] for r in rows}) == 1:
        fail(
            f"{len(rows)} rows share the exception id {rows[0][0]}: the log was edited "
            "(ids are unique when spansift writes them); run `spansift verify`"
        )
    if len(rows) > 1:
        fail(f"{len(rows)} exceptions start with {exception_id!r}; give more characters")
    row = dict(zip(SHOW_COLUMNS, rows[0][:-1], strict=True))
    spans = read_result(db, _SPANS_SQL, [row["exception_id"]])
    offending = _offending(spans.rows, rows[0][-1])
    if fmt == "json":
        doc = {
            "exception": {k: plain(v) for k, v in row.items()},
            "offending_span": offending,
            "spans": [{k: v for k, v in s.items() if k != "span"} for s in records(spans)],
        }
        emit(dump(doc), out)
        return
    lines = _header(row)
    if offending:
        lines += ["", *span_lines(offending)]
    lines += ["", f"evidence: {len(spans.rows)} span{'s' if len(spans.rows) != 1 else ''} "
              "of the trace", *_tree(spans.rows)]  # fmt: skip
    emit("\n".join(lines), out)


def _header(row: Mapping[str, Any]) -> list[str]:
    lines = [
        f"exception {row['exception_id']}  {row['exception_type']} ({row['severity']})  "
        f"{row['status']}"
    ]
    for label, value in (
        ("when", f"{cell(row['occurred_at'])} (detected {cell(row['detected_at'])})"),
        ("workflow", f"{row['workflow'] or '-'}  step: {row['step'] or '-'}"),
        ("agent", f"{row['agent'] or '-'}  tool: {row['tool'] or '-'}"),
        ("rule", f"{row['rule_id']}  boundary: {row['boundary'] or '-'}"),
        ("owner", f"{row['owner'] or '-'}  follow-up: {row['follow_up'] or '-'}"),
        ("summary", row["summary"] or "-"),
        ("trace", f"{row['trace_id']}  span: {row['span_id']}"),
    ):
        lines.append(f"  {label:<9} {value}")
    return lines


def _offending(spans: Sequence[Sequence[Any]], evidence: Any) -> dict[str, Any] | None:
    """The offending span's evidence: from the trace's spans, else from the row itself."""
    for span in spans:
        if span[5]:
            return _object(span[6])
    found = _object(evidence)
    inner = found.get("span") if found else None
    return inner if isinstance(inner, dict) else None


def _object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def span_lines(span: Mapping[str, Any]) -> list[str]:
    """The offending span as `key  value` lines: status, attributes, events, resource."""
    status = str(span.get("status") or "unset")
    message = span.get("status_message")
    lines = [
        f"offending span: {span.get('name', '?')}  [{status}{': ' + message if message else ''}]"
    ]
    attributes = span.get("attributes") or {}
    keys = sorted(attributes, key=lambda k: (k not in attrs.NORMALIZE_KEYS, k))
    pairs = [(k, _value(attributes[k])) for k in keys]
    for event in span.get("events") or ():
        details = " ".join(f"{k}={_value(v)}" for k, v in (event.get("attributes") or {}).items())
        pairs.append((f"event {event.get('name', '?')}", details))
    resource = span.get("resource") or {}
    if resource:
        pairs.append(
            ("resource", " ".join(f"{k}={_value(v)}" for k, v in sorted(resource.items())))
        )
    width = max((len(k) for k, _ in pairs), default=0)
    lines += [f"  {k:<{width}}  {_cut(v)}" for k, v in pairs]
    return lines


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value.replace("\n", " ")
    return json.dumps(value, ensure_ascii=False)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def _tree(spans: Sequence[Sequence[Any]]) -> list[str]:
    ids = {s[0] for s in spans}
    children: dict[str | None, list[Sequence[Any]]] = {}
    for span in spans:
        parent = span[1] if span[1] in ids else None
        children.setdefault(parent, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span_id, _, name, status, duration_ms, offending, _ in children.get(parent, []):
            mark = ">" if offending else " "
            lines.append(f"{mark} {'  ' * depth}{name}  [{status}, {float(duration_ms):.0f} ms]")
            walk(span_id, depth + 1)

    walk(None, 0)
    return lines
