"""OTLP protobuf: `ExportTraceServiceRequest` to `Span`.

`spans_from_request` converts every span fully; `spansift.sift` decides first which
spans are worth converting (touching every attribute from Python costs many times the
parse itself), and converts those with `proto_span`.

Nothing here does I/O or keeps state between calls; all functions are safe to
call from any thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spansift.model import AttrValue, Event, Span, SpanKind, StatusCode

__all__ = [
    "count_spans",
    "decode_request",
    "key_values",
    "proto_span",
    "resource_attributes",
    "spans_from_request",
]

# Index by the protocol number; values outside the enums fall back to the zero value.
_KINDS = tuple(SpanKind)
_STATUSES = tuple(StatusCode)


def decode_request(body: bytes) -> ExportTraceServiceRequest:
    """Parse a serialized `ExportTraceServiceRequest`; `ValueError` with a short reason if not."""
    try:
        request: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        msg = f"not a valid OTLP protobuf trace request: {exc}"
        raise ValueError(msg) from None
    return request


def spans_from_request(req: ExportTraceServiceRequest) -> list[Span]:
    """Every span of the request, fully converted."""
    out: list[Span] = []
    append = out.append
    for resource_spans in req.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                append(_span(span, resource, scope))
    return out


def resource_attributes(resource: Any) -> dict[str, AttrValue]:
    """The attributes of a protobuf `Resource`."""
    return _attributes(resource.attributes)


def key_values(values: Iterable[Any]) -> dict[str, AttrValue]:
    """Repeated protobuf `KeyValue` (attributes, a map body) as a dict."""
    return _attributes(values)


def proto_span(span: Any, resource: dict[str, AttrValue], scope: str) -> Span:
    """One protobuf span as a `Span` (as `spans_from_request` builds each)."""
    return _span(span, resource, scope)


def count_spans(req: ExportTraceServiceRequest) -> int:
    """How many spans `req` holds, without touching them."""
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def _span(
    span: Any,
    resource: dict[str, AttrValue],
    scope: str,
) -> Span:
    kind = span.kind
    status = span.status
    code = status.code
    parent: bytes = span.parent_span_id
    return Span(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=parent.hex() if parent else None,
        name=span.name,
        kind=_KINDS[kind] if 0 <= kind < len(_KINDS) else SpanKind.UNSPECIFIED,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status=_STATUSES[code] if 0 <= code < len(_STATUSES) else StatusCode.UNSET,
        status_message=status.message,
        attributes=_attributes(span.attributes),
        events=_events(span.events),
        resource=resource,
        scope=scope,
    )


def _events(events: Iterable[Any]) -> tuple[Event, ...]:
    return tuple(
        Event(name=e.name, time_ns=e.time_unix_nano, attributes=_attributes(e.attributes))
        for e in events
    )


def _attributes(key_values: Iterable[Any]) -> dict[str, AttrValue]:
    """Decode repeated `KeyValue`; keys with an empty `AnyValue` are left out."""
    out: dict[str, AttrValue] = {}
    for kv in key_values:
        any_value = kv.value
        if any_value.WhichOneof("value") == "string_value":  # most values, read in place
            out[kv.key] = any_value.string_value
            continue
        value = _value(any_value)
        if value is not None:
            out[kv.key] = value
    return out


def _value(any_value: Any) -> AttrValue | None:
    """Decode one `AnyValue`; `None` when no field of the oneof is set."""
    which = any_value.WhichOneof("value")
    if which == "string_value":
        result: AttrValue = any_value.string_value
    elif which == "int_value":
        result = any_value.int_value
    elif which == "bool_value":
        result = any_value.bool_value
    elif which == "double_value":
        result = any_value.double_value
    elif which == "array_value":
        items = (_value(v) for v in any_value.array_value.values)
        result = tuple(v for v in items if v is not None)
    elif which == "kvlist_value":
        result = _attributes(any_value.kvlist_value.values)
    elif which == "bytes_value":
        result = any_value.bytes_value
    else:
        return None
    return result
