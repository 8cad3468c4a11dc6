"""The rows the exception log writes: exception rows, built from hits.

Pure functions: a hit and a clock value in, a tuple in column order out. The
`exception_id` is a hash of rule, trace and span, which is what makes every write
idempotent.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

from spansift.evidence import MAX_VALUE_CHARS, hit_evidence
from spansift.model import Hit

_EPOCH = datetime(1970, 1, 1)  # naive UTC, like every TIMESTAMP column here

COLUMNS = (
    ("exception_id", "VARCHAR"),
    ("occurred_at", "TIMESTAMP"),
    ("detected_at", "TIMESTAMP"),
    ("workflow", "VARCHAR"),
    ("step", "VARCHAR"),
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("exception_type", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("rule_id", "VARCHAR"),
    ("agent", "VARCHAR"),
    ("tool", "VARCHAR"),
    ("boundary", "VARCHAR"),
    ("summary", "VARCHAR"),
    ("owner", "VARCHAR"),
    ("status", "VARCHAR"),
    ("resolution", "VARCHAR"),
    ("follow_up", "VARCHAR"),
    ("evidence", "JSON"),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)


def exception_id(rule_id: str, trace_id: str, span_id: str, item: str = "") -> str:
    """Deterministic row id: the same rule on the same span (and item) always gives the same id."""
    key = f"{rule_id}\x1f{trace_id}\x1f{span_id}"
    if item:
        key += f"\x1f{item}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def hit_id(hit: Hit) -> str:
    """The row id of a hit."""
    return exception_id(hit.match.rule_id, hit.span.trace_id, hit.span.span_id, hit.item)


def utc_from_ns(ns: int) -> datetime:
    """Naive UTC datetime (microsecond precision) from Unix nanoseconds."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def span_text(value: object) -> str | None:
    """A row's text column: any value as text, cut to the evidence bound like every value."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "..."


def hit_row(hit: Hit, detected_at: datetime, span_json_text: str | None = None) -> tuple[Any, ...]:
    """The `exception_rows` row of a hit, in `COLUMN_NAMES` order."""
    match, span, fields = hit.match, hit.span, hit.fields
    return (
        hit_id(hit),
        utc_from_ns(span.end_ns or span.start_ns),
        detected_at,
        span_text(fields.get("workflow")),
        span_text(fields.get("step")),
        span.trace_id,
        span.span_id,
        match.exception_type,
        match.severity.value,
        match.rule_id,
        span_text(fields.get("agent.name")),
        span_text(fields.get("tool.name")),
        span_text(match.boundary),
        span_text(match.summary),
        match.owner,
        "open",
        None,
        match.follow_up,
        hit_evidence(hit, span_json_text),
    )
