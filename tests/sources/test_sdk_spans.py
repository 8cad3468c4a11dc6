"""`span_from_readable`: the SDK's 0-based kinds, parent ids and attribute shapes."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spansift.model import SpanKind, StatusCode
from spansift.sources.sdk import span_from_readable


def _finished(kind: trace.SpanKind) -> tuple[ReadableSpan, ...]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("parent"), tracer.start_as_current_span("child", kind=kind):
        pass
    provider.shutdown()
    return exporter.get_finished_spans()


@pytest.mark.parametrize(
    ("sdk_kind", "kind"),
    [
        (trace.SpanKind.INTERNAL, SpanKind.INTERNAL),
        (trace.SpanKind.SERVER, SpanKind.SERVER),
        (trace.SpanKind.CLIENT, SpanKind.CLIENT),
        (trace.SpanKind.PRODUCER, SpanKind.PRODUCER),
        (trace.SpanKind.CONSUMER, SpanKind.CONSUMER),
    ],
    ids=lambda k: k.name,
)
def test_kind_shifted_to_protocol_numbers(sdk_kind: trace.SpanKind, kind: SpanKind) -> None:
    """The SDK's kind (INTERNAL=0) maps to the protocol's (INTERNAL=1)."""
    child, _ = _finished(sdk_kind)
    assert span_from_readable(child).kind is kind


def test_parent_and_ids() -> None:
    """The child's parent is the root's span id in hex; the root has no parent."""
    child, parent = (span_from_readable(s) for s in _finished(trace.SpanKind.INTERNAL))
    assert child.parent_span_id == parent.span_id
    assert parent.parent_span_id is None
    assert child.trace_id == parent.trace_id
    assert len(child.trace_id) == 32
    assert child.status is StatusCode.UNSET
    assert child.status_message == ""
    assert child.resource == {"service.name": "svc"}
    assert child.scope == "t"
