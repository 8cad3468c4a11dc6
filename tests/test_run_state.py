"""Run state as text: what a restart restores is what the run model held."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from spansift.model import SpanRecord
from spansift.normalize import compact, fields_of
from spansift.runs import state
from spansift.sources.otlp_json import parse_json

CORPUS = Path(__file__).parent / "fixtures" / "corpus"


def _records() -> list[SpanRecord]:
    spans = []
    for path in sorted(CORPUS.glob("*/*.json")):
        body = path.read_bytes()
        if b'"resourceSpans"' in body:  # not the recorders' package files
            spans += parse_json(body)
    return [compact(SpanRecord(span, fields_of(span))) for span in spans]


def test_every_recorded_span_round_trips() -> None:
    """Fields come back exactly (tuples as tuples); the span keeps identity, time and scope."""
    records = _records()
    assert len(records) > 2000
    restored = state.load(state.dump(records))
    assert len(restored) == len(records)
    for before, after in zip(records, restored, strict=True):
        assert after.fields == before.fields
        assert after.item == before.item
        b, a = before.span, after.span
        assert (a.trace_id, a.span_id, a.parent_span_id, a.name) == (
            b.trace_id, b.span_id, b.parent_span_id, b.name
        )  # fmt: skip
        assert (a.kind, a.status, a.start_ns, a.end_ns, a.scope, a.resource) == (
            b.kind, b.status, b.start_ns, b.end_ns, b.scope, b.resource
        )  # fmt: skip


def test_bytes_are_kept_as_their_size_and_attribute_text_is_scrubbed() -> None:
    record = _records()[0]
    span = dataclasses.replace(
        record.span, attributes={"note": "key sk-abcdefghijklmnopqrstuvwxyz0123456789"}
    )
    odd = SpanRecord(span, {**record.fields, "raw": b"\x00\x01\x02", "pair": ("a", "b")})
    (restored,) = state.load(state.dump([odd]))
    assert restored.fields["raw"] == "<3 bytes>"
    assert restored.fields["pair"] == ("a", "b")
    assert "sk-abcdefghijklmnopqrstuvwxyz0123456789" not in str(restored.span.attributes)
