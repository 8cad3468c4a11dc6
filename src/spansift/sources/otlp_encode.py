"""`Span` values back to an OTLP protobuf request (what a receiver accepts).

Messages are filled in place (`add()`), never built apart and copied in with
`extend`: a span's dozen attributes would otherwise cost two messages each, and
this runs for every OTLP/JSON span a receiver accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spansift.model import AttrValue, Span

__all__ = ["request_from_spans"]


def request_from_spans(spans: Iterable[Span]) -> ExportTraceServiceRequest:
    """One request holding `spans`, grouped by resource and scope as they come."""
    request = ExportTraceServiceRequest()
    groups: dict[tuple[int, str], Any] = {}
    for span in spans:
        key = (id(span.resource), span.scope)
        scope_spans = groups.get(key)
        if scope_spans is None:
            resource_spans = request.resource_spans.add()
            resource_spans.resource.SetInParent()  # present even when empty, as sent
            _fill(resource_spans.resource.attributes, span.resource)
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = span.scope
            groups[key] = scope_spans
        parent = span.parent_span_id
        proto = scope_spans.spans.add(
            trace_id=bytes.fromhex(span.trace_id),
            span_id=bytes.fromhex(span.span_id),
            parent_span_id=bytes.fromhex(parent) if parent else b"",
            name=span.name,
            kind=int(span.kind),
            start_time_unix_nano=span.start_ns,
            end_time_unix_nano=span.end_ns,
        )
        proto.status.code = int(span.status)
        proto.status.message = span.status_message
        _fill(proto.attributes, span.attributes)
        for event in span.events:
            added = proto.events.add(name=event.name, time_unix_nano=event.time_ns)
            _fill(added.attributes, event.attributes)
    return request


def _fill(key_values: Any, attributes: Mapping[str, AttrValue]) -> None:
    """Append `attributes` to a repeated `KeyValue` field."""
    for key, value in attributes.items():
        _set(key_values.add(key=key).value, value)


def _set(out: Any, value: AttrValue) -> None:
    """Set the `AnyValue` `out` to `value`."""
    if isinstance(value, str):
        out.string_value = value
    elif isinstance(value, bool):  # before int: a bool is an int
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, tuple):
        array = out.array_value
        array.SetInParent()  # an empty array is a value too
        for item in value:
            _set(array.values.add(), item)
    else:
        kvlist = out.kvlist_value
        kvlist.SetInParent()
        _fill(kvlist.values, value)
