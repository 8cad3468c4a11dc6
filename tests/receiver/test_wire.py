"""Validation at intake: protobuf ids are checked group by group, and a bad one is named."""

from __future__ import annotations

import os

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from spansift.receiver._spool import KIND_PROTOBUF
from spansift.receiver._wire import BadBodyError, validate


def _body(*spans: Span) -> bytes:
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def _span(trace_id: bytes | None = None, span_id: bytes | None = None) -> Span:
    return Span(
        trace_id=os.urandom(16) if trace_id is None else trace_id,
        span_id=os.urandom(8) if span_id is None else span_id,
        name="GET /",
    )


def test_well_formed_ids_are_accepted_and_counted() -> None:
    accepted = validate(KIND_PROTOBUF, _body(*(_span() for _ in range(5))))
    assert accepted.spans == 5


@pytest.mark.parametrize(
    "bad", [_span(trace_id=b"\x01" * 8), _span(span_id=b""), _span(trace_id=b"\x02" * 17)]
)
def test_a_bad_id_is_named_by_its_place(bad: Span) -> None:
    with pytest.raises(BadBodyError, match=r"spans\[1\]: trace_id must be 16 bytes"):
        validate(KIND_PROTOBUF, _body(_span(), bad, _span()))
