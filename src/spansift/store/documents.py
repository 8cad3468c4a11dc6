"""Evidence as one document per trace (`trace_evidence`, schema 9).

A trace's document is a JSON array with one element per span it keeps as evidence,
`[span_id, parent_span_id, name, status, start_at, end_at, span]`: times as ISO text
with microseconds, `span` the span's bounded, redacted JSON (`spansift.evidence`) as
text, so it reads back exactly as written. A write inserts one row per new trace; a
span arriving after its trace was written is appended to the trace's array (a span
already there is never written twice).

The chain covers documents by segment: each write chains, per trace, the elements it
added, as the row `[trace_id, first, [element, ...]]` (`first`: the position of the
first of them in the array) with chain row id `<trace_id>/<first>`. Elements migrated
from `trace_spans` (schema 4-8) sit before any segment and are checked against the
chain entries written for them then, as `span` rows `(trace_id, *element)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from spansift.model import Span
from spansift.store import staging
from spansift.store.batch import encode, plain
from spansift.store.rows import span_text, utc_from_ns

if TYPE_CHECKING:
    import duckdb

SINCE = 9  # the schema version that keeps evidence as documents
TRACE = "trace"  # chain kind of a document segment
SPAN = "span"  # chain kind of a span row written before schema 9
TABLE = "trace_evidence"
Segment = tuple[str, int, list[str]]  # trace id, first position, encoded elements
# A string as `encode` writes it (JSON, non-ASCII kept), without a list around it to encode.
_string: Callable[[str], str] = json.encoder.encode_basestring


def element(span: Span, span_json: str) -> str:
    """The encoded array element keeping `span` (its JSON built once, by the caller): the
    text `encode` gives the element's list, put together from its encoded strings."""
    parent = span.parent_span_id
    return (
        f"[{_string(span.span_id)},{'null' if parent is None else _string(parent)},"
        f"{_string(span_text(span.name) or '')},{_string(span.status.name.lower())},"
        f'"{plain(utc_from_ns(span.start_ns))}","{plain(utc_from_ns(span.end_ns))}",'
        f"{_string(span_json)}]"
    )


def segment_id(trace_id: str, first: int) -> str:
    return f"{trace_id}/{first}"


def encoded_segment(segment: Segment) -> str:
    """A segment's chain row as the batch digest encodes it, built from encoded elements."""
    trace_id, first, elements = segment
    return f"[{encode(trace_id)},{first},[{','.join(elements)}]]"


def write(con: duckdb.DuckDBPyConnection, docs: Mapping[str, Mapping[str, str]]) -> list[Segment]:
    """Insert or extend the documents of `docs` ({trace id: {span id: element}}) in the
    open transaction; returns the segments written, to be chained."""
    rows = [(t, f"[{','.join(spans.values())}]") for t, spans in docs.items()]
    new = staging.insert(con, TABLE, "staged_documents", rows, "trace_id")
    segments = [(t, 0, list(spans.values())) for t, spans in docs.items() if (t,) in new]
    late = [t for t in docs if (t,) not in new]
    if not late:
        return segments
    found = con.execute(
        f"SELECT trace_id, spans FROM {TABLE} WHERE trace_id IN (SELECT unnest(?))", [late]
    ).fetchall()
    updates: list[tuple[str, str]] = []
    for trace_id, text in found:
        kept = json.loads(text)
        have = {e[0] for e in kept}
        added = [el for span_id, el in docs[trace_id].items() if span_id not in have]
        if added:
            updates.append((f"[{','.join([*map(encode, kept), *added])}]", trace_id))
            segments.append((trace_id, len(kept), added))
    if updates:
        con.executemany(f"UPDATE {TABLE} SET spans = ? WHERE trace_id = ?", updates)
    return segments


def _elements(text: object) -> list[list[Any]] | None:
    """A stored document's elements (JSON text, or already decoded); None when it is not
    an array of 7-value arrays (an edited document)."""
    try:
        doc = json.loads(text) if isinstance(text, str | bytes) else text
    except ValueError:
        return None
    if not isinstance(doc, list) or not all(isinstance(e, list) and len(e) == 7 for e in doc):
        return None
    return doc


def stored_rows(
    documents: Iterable[Sequence[Any]], listed: Iterable[str], *, spans_chained: bool
) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The chained rows the documents hold now, keyed by (kind, chain row id): one per
    listed segment (`listed`: every `trace` row id the batches name) and, for elements
    before a trace's first segment, a `span` row each when the chain covers span rows
    (`spans_chained`: the log was written before schema 9), else one unlisted segment."""
    starts: dict[str, set[int]] = {}
    for row_id in listed:
        trace_id, _, position = row_id.rpartition("/")
        if position.isdigit():
            starts.setdefault(trace_id, set()).add(int(position))
    rows: dict[tuple[str, str], tuple[Any, ...]] = {}
    for trace, text in documents:
        trace_id = str(trace)
        points = sorted(starts.get(trace_id, ()))
        elements = _elements(text)
        if elements is None:  # unreadable: every segment of it differs, or it was never chained
            for first in points or [0]:
                rows[(TRACE, segment_id(trace_id, first))] = (trace_id, first, text)
            continue
        points = [p for p in points if p < len(elements)]
        if not spans_chained and elements and (not points or points[0] > 0):
            points.insert(0, 0)
        for e in elements[: points[0] if points else len(elements)]:
            key = (SPAN, f"{trace_id}/{e[0]}")
            rows[(SPAN, f"{key[1]} (again)") if key in rows else key] = (trace_id, *e)
        for n, first in enumerate(points):
            end = points[n + 1] if n + 1 < len(points) else len(elements)
            rows[(TRACE, segment_id(trace_id, first))] = (trace_id, first, elements[first:end])
    return rows
