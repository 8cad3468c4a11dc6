"""`Span` values back to an OTLP protobuf request (what a receiver accepts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from spansift.model import AttrValue, Span

__all__ = ["request_from_spans"]


def request_from_spans(spans: Iterable[Span]) -> ExportTraceServiceRequest:
    """One request holding `spans`, grouped by resource and scope as they come."""
    request = ExportTraceServiceRequest()
    groups: dict[tuple[int, str], object] = {}
    for span in spans:
        key = (id(span.resource), span.scope)
        scope_spans = groups.get(key)
        if scope_spans is None:
            resource_spans = request.resource_spans.add()
            resource_spans.resource.attributes.extend(_key_values(span.resource))
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = span.scope
            groups[key] = scope_spans
        proto = scope_spans.spans.add()  # type: ignore[attr-defined]
        proto.trace_id = bytes.fromhex(span.trace_id)
        proto.span_id = bytes.fromhex(span.span_id)
        if span.parent_span_id:
            proto.parent_span_id = bytes.fromhex(span.parent_span_id)
        proto.name = span.name
        proto.kind = int(span.kind)
        proto.start_time_unix_nano = span.start_ns
        proto.end_time_unix_nano = span.end_ns
        proto.status.code = int(span.status)
        proto.status.message = span.status_message
        proto.attributes.extend(_key_values(span.attributes))
        for event in span.events:
            added = proto.events.add(name=event.name, time_unix_nano=event.time_ns)
            added.attributes.extend(_key_values(event.attributes))
    return request


def _key_values(attributes: Mapping[str, AttrValue]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any(v)) for k, v in attributes.items()]


def _any(value: AttrValue) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    out = AnyValue()
    if isinstance(value, tuple):
        out.array_value.values.extend(_any(v) for v in value)
    else:
        out.kvlist_value.values.extend(_key_values(value))
    return out
